"""/api/v1/ledger/...: public keys, checkpoints and proofs. The ledger decides nothing about
people; here a proof is given only to callers who may see the entry's employee."""

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema
from pydantic import Field

from kaohe.ledger import proofs
from kaohe.ledger.checkpoints import as_document, latest_checkpoint
from kaohe.ledger.keys import public_keys
from kaohe.ledger.models import Checkpoint, SigningKey
from kaohe.lib.problem import Problem, ProblemError
from kaohe.lib.verify import key_entry
from kaohe.org.api import auth_for
from kaohe.org.evidence import entries_visible_to, entries_visible_to_key

router = Router(tags=["evidence"])
MAX_INDEX = 2**53  # JSON integers beyond this lose precision in many clients


class KeyOut(Schema):
    key_id: str
    algorithm: str
    public_key: str = Field(description="Base64 of the 32 raw Ed25519 public-key bytes.")
    created_at: dt.datetime
    retired_at: dt.datetime | None


class KeyList(Schema):
    keys: list[KeyOut]


class CheckpointOut(Schema):
    log_id: str
    tree_size: int
    root_hash: str
    time: str
    key_id: str
    previous: str | None = Field(
        None,
        description="SHA-256 of the previous checkpoint's signed bytes (64 zeros for the "
        "first); absent on checkpoints made before checkpoints were chained.",
    )
    signature: str = Field(description="Ed25519 over the RFC 8785 form of the other fields.")
    timestamp: str | None = Field(None, description="RFC 3161 token, base64, when stamped.")


class ProofDocument(Schema):
    format: str
    entry: dict[str, Any]
    proof: dict[str, Any]
    public_keys: list[dict[str, Any]]


class ConsistencyDocument(Schema):
    format: str
    old: dict[str, Any]
    new: dict[str, Any]
    proof: list[str]
    public_keys: list[dict[str, Any]]


class SizePair(Schema):
    old: int = Field(ge=1, le=MAX_INDEX, description="Tree size of the earlier checkpoint.")
    new: int = Field(ge=1, le=MAX_INDEX, description="Tree size of the later checkpoint.")


@router.get("/ledger/keys", auth=None, response=KeyList, summary="The log's public keys")
def ledger_keys(request):
    """Every key that has signed checkpoints, retired ones included, for offline checks:
    those whose key file is still here (a row added to the database alone is not one)."""
    rows = SigningKey.objects.filter(key_id__in=public_keys()).order_by("created_at")
    return {"keys": [{**key_entry(k.public_key), "created_at": k.created_at,
                      "retired_at": k.retired_at} for k in rows]}  # fmt: skip


@router.get(
    "/ledger/checkpoints/latest",
    auth=auth_for(),
    response={200: CheckpointOut, 401: Problem, 403: Problem, 404: Problem},
    summary="The latest signed checkpoint",
)
def latest(request):
    checkpoint = latest_checkpoint()
    if checkpoint is None:
        raise ProblemError(404, _("The log has no checkpoint yet."))
    return as_document(checkpoint)


@router.get(
    "/ledger/entries/{index}/proof",
    auth=auth_for("documents:read"),
    response={200: ProofDocument, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
    summary="An entry with its inclusion proof",
)
def entry_proof(request, index: int = Path(..., ge=0, le=MAX_INDEX)):
    """Entry `index`, its audit path and the checkpoint it leads to, as `kaohe verify`
    checks it. Only for callers who may see the entry's employee. Scope: `documents:read`."""
    caller = request.auth
    if caller.key is not None:
        visible = entries_visible_to_key(caller.key)
    else:
        visible = entries_visible_to(caller.user)
    if not visible.filter(index=index).exists():
        raise ProblemError(404, _("There is no ledger entry %(index)s within your reach.")
                           % {"index": index})  # fmt: skip
    return proofs.inclusion(index)


@router.get(
    "/ledger/consistency",
    auth=auth_for(),
    response={200: ConsistencyDocument, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
    summary="Proof that a later checkpoint extends an earlier one",
)
def consistency(request, sizes: Query[SizePair]):
    if sizes.old > sizes.new:
        # Schema-valid, yet no such proof exists: a later checkpoint never shrinks the log.
        raise ProblemError(404, _("The old size must not be larger than the new one."))
    try:
        old, new = proofs.checkpoint_of_size(sizes.old), proofs.checkpoint_of_size(sizes.new)
    except Checkpoint.DoesNotExist:
        raise ProblemError(404, _("There is no checkpoint of that size.")) from None
    return proofs.consistency(old, new)
