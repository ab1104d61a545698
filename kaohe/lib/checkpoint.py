"""Checkpoints (signed tree heads): the log's size and root hash at a time, signed with Ed25519.

A checkpoint is a JSON object:

    {"log_id": "...", "tree_size": 1000, "root_hash": "<hex>", "time": "2026-01-15T02:00:00Z",
     "key_id": "<16 hex>", "previous": "<hex>", "signature": "<base64>"}

The signature covers the canonical JSON (RFC 8785) of the object without "signature" and
without "timestamp": an RFC 3161 token over SHA-256 of those same bytes, which a
timestamping authority may add later.

"previous" chains the checkpoints: it is SHA-256 of the signed bytes of the checkpoint made
just before this one (`checkpoint_hash`), or GENESIS (64 zeros) for a log's first. Removing
or altering a checkpoint in the middle breaks the chain at the next one, and one RFC 3161
timestamp vouches for every checkpoint before it. Checkpoints made before kaohe chained them
have no "previous"; a verifier accepts that only before the first one that has it.
"""

import base64
import binascii
import datetime as dt
import hashlib
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kaohe.lib.canonical import canonical

__all__ = [
    "GENESIS",
    "VerifyError",
    "check_fields",
    "checkpoint_hash",
    "decode_base64",
    "fingerprint",
    "format_time",
    "key_id",
    "parse_time",
    "public_key_raw",
    "sign_checkpoint",
    "signed_bytes",
    "verify_checkpoint",
]

SIGNED_FIELDS = {
    "log_id": str,
    "tree_size": int,
    "root_hash": str,
    "time": str,
    "key_id": str,
    "previous": str,
}
UNSIGNED_FIELDS = {"signature": str, "timestamp": str}
OPTIONAL_FIELDS = {"timestamp", "previous"}
GENESIS = "0" * 64  # "previous" of a log's first checkpoint
MAX_SIZE = 2**53 - 1  # what every JSON reader holds exactly

_HEX32 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class VerifyError(Exception):
    """An offline check failed; the message says which and why, for a person to read."""


def key_id(public_key_raw: bytes) -> str:
    """The key's short name: the first 16 hex digits of SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def fingerprint(public_key_raw: bytes) -> str:
    """The full SHA-256 of the raw key, for comparing with a published key by eye."""
    return hashlib.sha256(public_key_raw).hexdigest()


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def format_time(when: dt.datetime) -> str:
    """RFC 3339 in UTC to the second: "2026-01-15T02:00:00Z"."""
    if when.tzinfo is None:
        raise ValueError("checkpoint time must be timezone-aware")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    if not _TIME.fullmatch(text):
        raise ValueError(f"{text!r} is not a UTC time like 2026-01-15T02:00:00Z")
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def signed_bytes(checkpoint: dict[str, Any]) -> bytes:
    """The bytes the signature covers (and an RFC 3161 timestamp hashes)."""
    return canonical({k: v for k, v in checkpoint.items() if k not in UNSIGNED_FIELDS})


def checkpoint_hash(checkpoint: dict[str, Any]) -> str:
    """What the next checkpoint puts in "previous": SHA-256 of the signed bytes, in hex."""
    return hashlib.sha256(signed_bytes(checkpoint)).hexdigest()


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    log_id: str,
    tree_size: int,
    root_hash: bytes,
    time: dt.datetime,
    previous: str | None = None,
) -> dict[str, Any]:
    """The signed checkpoint; `previous` is the previous checkpoint's `checkpoint_hash`, or
    GENESIS for the first (None leaves it out, as checkpoints before the chain had it)."""
    checkpoint: dict[str, Any] = {
        "log_id": log_id,
        "tree_size": tree_size,
        "root_hash": root_hash.hex(),
        "time": format_time(time),
        "key_id": key_id(public_key_raw(private_key)),
    }
    if previous is not None:
        checkpoint["previous"] = previous
    _check_fields(checkpoint, signed=False)
    signature = private_key.sign(signed_bytes(checkpoint))
    checkpoint["signature"] = base64.b64encode(signature).decode()
    return checkpoint


def verify_checkpoint(checkpoint: Any, public_keys: dict[str, bytes]) -> None:
    """Raises VerifyError unless `checkpoint` is well formed and signed by one of
    `public_keys` (key id -> 32 raw Ed25519 public key bytes)."""
    _check_fields(checkpoint, signed=True)
    kid = checkpoint["key_id"]
    raw = public_keys.get(kid)
    if raw is None:
        trusted = ", ".join(sorted(public_keys)) or "(none)"
        raise VerifyError(
            f"checkpoint of size {checkpoint['tree_size']} is signed by key {kid}, "
            f"which is not among the trusted keys: {trusted}"
        )
    if key_id(raw) != kid:
        raise VerifyError(f"the trusted key listed as {kid} is in fact key {key_id(raw)}")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise VerifyError(f"key {kid} is not a 32-byte Ed25519 public key") from None
    try:
        signature = decode_base64(checkpoint["signature"])
    except ValueError:
        raise VerifyError("checkpoint signature is not base64") from None
    try:
        public_key.verify(signature, signed_bytes(checkpoint))
    except InvalidSignature as exc:
        raise VerifyError(
            f"the signature of checkpoint of size {checkpoint['tree_size']} does not match "
            f"its contents and key {kid}: it was altered or signed by another key"
        ) from exc


def check_fields(checkpoint: Any) -> None:
    """Raises VerifyError unless `checkpoint` has exactly the fields it should, well typed."""
    _check_fields(checkpoint, signed=True)


def decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{text[:40]!r} is not base64") from exc


def _check_fields(checkpoint: Any, signed: bool) -> None:
    if not isinstance(checkpoint, dict):
        raise VerifyError(f"a checkpoint must be a JSON object, not {_json_type(checkpoint)}")
    allowed = SIGNED_FIELDS | UNSIGNED_FIELDS if signed else SIGNED_FIELDS
    required = set(allowed) - OPTIONAL_FIELDS
    if missing := sorted(required - checkpoint.keys()):
        raise VerifyError(f"checkpoint lacks field(s): {', '.join(missing)}")
    if extra := sorted(checkpoint.keys() - allowed):
        raise VerifyError(f"checkpoint has unexpected field(s): {', '.join(map(str, extra))}")
    for name, value in checkpoint.items():
        if not isinstance(value, allowed[name]) or isinstance(value, bool):
            raise VerifyError(
                f"checkpoint field {name} must be {_TYPE_NAMES[allowed[name]]}, "
                f"not {_json_type(value)}"
            )
    _check_values(checkpoint)


def _check_values(checkpoint: dict[str, Any]) -> None:
    if not 0 <= checkpoint["tree_size"] <= MAX_SIZE:
        raise VerifyError(f"checkpoint tree_size {checkpoint['tree_size']} is out of range")
    if not _HEX32.fullmatch(checkpoint["root_hash"]):
        raise VerifyError("checkpoint root_hash must be 64 lowercase hex digits")
    if "previous" in checkpoint and not _HEX32.fullmatch(checkpoint["previous"]):
        raise VerifyError("checkpoint previous must be 64 lowercase hex digits")
    if not checkpoint["log_id"]:
        raise VerifyError("checkpoint log_id is empty")
    try:
        parse_time(checkpoint["time"])
    except ValueError as exc:
        raise VerifyError(f"checkpoint time: {exc}") from None


_TYPE_NAMES = {str: "a string", int: "an integer"}


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    names.update({int: "an integer", float: "a number", type(None): "null"})
    return names.get(type(value), type(value).__name__)
