"""Checkpoints: the log's size and root hash at a time, signed with the company's key.

The scheduler makes one every few minutes when the log grew, and actions enqueue
`checkpoint_task` after important events. Each names the hash of the one made before it
("previous", kaohe.lib.checkpoint), so `kaohe ledger verify` sees one removed from the
middle (kaohe.ledger.anchors). The stored `body` is the canonical JSON the signature covers
(kaohe.lib.checkpoint); `as_document` rebuilds the signed object that proofs carry, with
the RFC 3161 timestamp when there is one.
"""

import base64
import hashlib
import json
import logging
import zlib

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from kaohe.ledger import keys, tree, witness
from kaohe.ledger.log import ensure_head
from kaohe.ledger.models import Checkpoint, LogHead, TimestampStatus
from kaohe.ledger.timestamps import stamp, token_problem
from kaohe.lib import clock
from kaohe.lib.checkpoint import (
    GENESIS,
    VerifyError,
    sign_checkpoint,
    signed_bytes,
    verify_checkpoint,
)

logger = logging.getLogger(__name__)
CHAIN_ATTEMPTS = 5
SIGNER_LOCK = zlib.crc32(b"kaohe.ledger.checkpoint")  # as kaohe.metrics.ingest keys its locks


def make_checkpoint(force: bool = False) -> Checkpoint | None:
    """Signs the current tree head, chained to the checkpoint made before it. Without
    `force`, does nothing when the log has not grown since the latest checkpoint (or is
    empty). Asks the TSA for a timestamp if one is set."""
    for attempt in range(CHAIN_ATTEMPTS):
        try:
            with transaction.atomic():
                checkpoint = _sign_next(force)
            break
        except IntegrityError:  # another process chained to the same one first: re-read
            if attempt == CHAIN_ATTEMPTS - 1:
                raise
    if checkpoint is None:
        return None
    logger.info("ledger checkpoint %s: size %s, root %s",
                checkpoint.pk, checkpoint.tree_size, checkpoint.root_hash)  # fmt: skip
    # After commit: a copy of a checkpoint that was rolled back would accuse the log.
    transaction.on_commit(lambda: witness.remember(checkpoint), robust=True)
    if settings.KAOHE_TSA_URL:  # after commit: no transaction waits on the network
        transaction.on_commit(lambda: stamp(checkpoint))
    return checkpoint


def _sign_next(force: bool) -> Checkpoint | None:
    _one_signer_at_a_time()
    # The one to chain to is read before the head: if another checkpoint is made meanwhile,
    # the unique `previous` refuses this one and it is made again, with the newer size.
    before = last_made()
    log_id, size = _head(create=force)
    latest = latest_checkpoint()
    if not force and (size == 0 or (latest is not None and latest.tree_size >= size)):
        return None
    private, key = keys.signing_key()
    now = clock.now().replace(microsecond=0)
    previous = hashlib.sha256(before.body.encode()).hexdigest() if before else GENESIS
    signed = sign_checkpoint(private, log_id, size, tree.root(size), now, previous=previous)
    owed = TimestampStatus.PENDING if settings.KAOHE_TSA_URL else TimestampStatus.NONE
    return Checkpoint.objects.create(
        tree_size=size,
        root_hash=signed["root_hash"],
        created_at=now,
        key_id=key.key_id,
        previous=previous,
        body=signed_bytes(signed).decode(),
        signature=signed["signature"],
        timestamp_status=owed,
    )


def _one_signer_at_a_time() -> None:
    """On PostgreSQL, signers wait for each other (appenders do not wait for them): several
    at once would chain to the same checkpoint, and all but one would start again, some
    more than CHAIN_ATTEMPTS times under load. SQLite's write lock already orders them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SIGNER_LOCK])


def last_made() -> Checkpoint | None:
    """The checkpoint made last, which the next one follows (`latest_checkpoint` goes by
    size instead)."""
    return Checkpoint.objects.order_by("-pk").first()


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size", "-pk").first()


def covering(index: int) -> Checkpoint:
    """The latest checkpoint, made now if none covers entry `index` yet."""
    latest = latest_checkpoint()
    if latest is None or latest.tree_size <= index:
        latest = make_checkpoint() or latest_checkpoint()
    if latest is None or latest.tree_size <= index:
        raise LookupError(f"entry {index} is not in the log")
    return latest


def signed_value(checkpoint: Checkpoint, name: str):
    """A member of the checkpoint's signed body; None when the body is no JSON object
    (`checkpoint_problem` says why)."""
    try:
        return json.loads(checkpoint.body).get(name)
    except (ValueError, AttributeError):
        return None


def as_document(checkpoint: Checkpoint) -> dict:
    """The signed checkpoint object, as proofs and the API give it."""
    document = json.loads(checkpoint.body) | {"signature": checkpoint.signature}
    if checkpoint.timestamp_status == TimestampStatus.STAMPED and checkpoint.timestamp_token:
        document["timestamp"] = base64.b64encode(bytes(checkpoint.timestamp_token)).decode()
    return document


def checkpoint_problem(
    checkpoint: Checkpoint, public_keys: dict[str, bytes] | None = None
) -> str | None:
    """Why the stored checkpoint does not hold up by itself (its root is compared with the
    entries elsewhere), or None. `public_keys` defaults to every registered key."""
    try:
        document = json.loads(checkpoint.body) | {"signature": checkpoint.signature}
        verify_checkpoint(document, keys.public_keys() if public_keys is None else public_keys)
    except (ValueError, TypeError, VerifyError) as exc:
        return str(exc)
    columns = {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "key_id": checkpoint.key_id,
        "time": checkpoint.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "previous": checkpoint.previous,
    }
    wrong = [name for name, value in columns.items() if document.get(name, "") != value]
    if wrong:
        return f"its {', '.join(wrong)} column(s) disagree with the signed body"
    if checkpoint.timestamp_status == TimestampStatus.STAMPED:
        return token_problem(bytes(checkpoint.timestamp_token or b""), checkpoint.body.encode())
    return None


def _head(create: bool) -> tuple[str, int]:
    head = LogHead.objects.filter(pk=1).values_list("log_id", "size").first()
    if head is None and create:
        ensure_head()
        head = LogHead.objects.filter(pk=1).values_list("log_id", "size").first()
    return head or ("", 0)
