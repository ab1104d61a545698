"""The signer's own copy of the latest checkpoint it made, kept beside the key file.

Someone who can write the database but not the key's directory can delete the newest
checkpoints, rewrite or cut the entries made after the one before them, and wait: the
scheduler then signs the altered log, chained correctly to the newest checkpoint still
stored, and the stored checkpoints agree with each other again. The copy remembers what
was signed: `kaohe ledger verify` holds the log to it as to a receipt kept outside
(kaohe.ledger.anchors: the log must still reach its size and give its root there, and it
must still be stored), and it only moves on to a checkpoint that extends it. After a
deliberate replacement of the database (a restored backup, a new installation) verify
names the file to move aside.

The file is a signed checkpoint document, as `kaohe verify` reads one. It is written after
the checkpoint's transaction commits, under a lock, by replacing it whole.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from kaohe.ledger import tree
from kaohe.ledger.models import Checkpoint
from kaohe.lib import files

logger = logging.getLogger(__name__)

NAME = "last-checkpoint.json"
LOCK = ".last-checkpoint.lock"


@dataclass(frozen=True)
class Copy:
    """The file as read: its bytes, or why it could not be read."""

    path: Path
    data: bytes | None
    error: str = ""


def path() -> Path:
    return Path(settings.LEDGER_KEY_FILE).parent / NAME


def read() -> Copy | None:
    """The copy kept here, or None when there is none (yet)."""
    where = path()
    try:
        return Copy(where, where.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Copy(where, None, exc.strerror or str(exc))


def remember(checkpoint: Checkpoint) -> None:
    """Keeps `checkpoint` (committed) as the latest one signed here when it extends the one
    kept so far. One that the copy already extends (another signer's later checkpoint got
    here first) leaves it as it is; one that contradicts it is logged as an error, and the
    copy stays."""
    from kaohe.ledger.checkpoints import as_document

    document = as_document(checkpoint)
    document.pop("timestamp", None)  # the signed checkpoint alone
    with files.locked(path().parent, LOCK):
        kept = _parsed(read())
        reason = None if kept is None else _contradiction(kept, document)
        if reason:
            logger.error("ledger: checkpoint %s is not kept in %s: %s; run `kaohe ledger "
                         "verify`", checkpoint.pk, path(), reason)  # fmt: skip
        elif kept is None or kept["tree_size"] < document["tree_size"]:
            text = json.dumps(document, ensure_ascii=False, indent=2)
            files.replace(path(), text.encode(), mode=0o600)


def _contradiction(kept: dict, new: dict) -> str:
    """Why the log that checkpoint `new` (signed now, from the stored nodes) was made of does
    not extend checkpoint `kept`, or "" when it does. The root at the kept size is folded
    from the same stored nodes."""
    if not kept:
        return "the copy kept so far cannot be read"
    if kept.get("log_id") != new["log_id"]:
        return f"the one kept is of log {kept.get('log_id')}, this one of log {new['log_id']}"
    size = kept.get("tree_size")
    if not isinstance(size, int) or size < 0:
        return "the copy kept so far names no tree size"
    try:
        root = tree.root(size).hex()
    except KeyError:  # the log no longer reaches the kept size
        return f"the one kept covers {size} entries, the log no longer does"
    if root != kept.get("root_hash"):
        return f"the log's root at the kept size {size} is no longer the one signed"
    return ""


def _parsed(copy: Copy | None) -> dict | None:
    """The copy's document; {} when it cannot be read (it is then left as it is)."""
    if copy is None:
        return None
    try:
        document = json.loads(copy.data or b"")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        logger.error("ledger: %s cannot be read; it is left as it is", copy.path)
        return {}
    return document
