"""`kaohe verify FILE...`: checks exported proofs offline, with no database and no settings.

An inclusion proof document ("kaohe-proof/v1") holds one entry, its RFC 9162 audit path up to
a signed checkpoint, and the public keys; a consistency document ("kaohe-consistency/v1")
holds two checkpoints and the RFC 9162 proof that the later log extends the earlier one; a
bare signed checkpoint (as /api/v1/ledger/checkpoints/latest serves it) holds only itself.
An RFC 3161 timestamp on a checkpoint is checked too (kaohe.lib.rfc3161): its signature
always, its certificate chain only against the roots given with --tsa-roots.
Every step that fails raises VerifyError naming the step; nothing here raises anything else
on bad input.

`--against RECEIPT...` holds the FILEs to documents handed out earlier (kaohe.lib.against).
"""

import argparse
import base64
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asn1crypto import x509

from kaohe.lib import merkle, rfc3161
from kaohe.lib.against import Link, verify_against
from kaohe.lib.canonical import CanonicalError, canonical
from kaohe.lib.checkpoint import (
    MAX_SIZE,
    OPTIONAL_FIELDS,
    VerifyError,
    check_fields,
    decode_base64,
    fingerprint,
    key_id,
    parse_time,
    signed_bytes,
    verify_checkpoint,
)

__all__ = [
    "CHECKPOINT",
    "CONSISTENCY_FORMAT",
    "PROOF_FORMAT",
    "VerifyError",
    "consistency_document",
    "document_checkpoints",
    "document_kind",
    "key_entry",
    "load_json",
    "main",
    "parse_keys",
    "proof_document",
    "read_file",
    "verify_document",
]

PROOF_FORMAT = "kaohe-proof/v1"
CONSISTENCY_FORMAT = "kaohe-consistency/v1"
CHECKPOINT = "checkpoint"  # a bare signed checkpoint: it has no "format"
KEYS_URL = "/api/v1/ledger/keys"

PublicKeys = Iterable[bytes | str | Mapping[str, Any]]


# -- building documents (the ledger app calls these) --


def key_entry(public_key: bytes | str | Mapping[str, Any]) -> dict[str, str]:
    """{"key_id", "algorithm", "public_key"} for a raw 32-byte key, its base64, or a mapping
    that has "public_key" in base64 (such as an entry of /api/v1/ledger/keys)."""
    if isinstance(public_key, Mapping):
        public_key = str(public_key["public_key"])
    raw = public_key if isinstance(public_key, bytes) else decode_base64(public_key)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return {"key_id": key_id(raw), "algorithm": "Ed25519", "public_key": _b64(raw)}


def proof_document(
    entry_bytes: bytes,
    leaf_index: int,
    tree_size: int,
    audit_path: Sequence[bytes],
    root_hash: bytes,
    checkpoint: dict[str, Any],
    public_keys: PublicKeys,
) -> dict[str, Any]:
    """The inclusion proof of one entry, as `kaohe ledger proof` prints it."""
    entry = json.loads(entry_bytes)
    if canonical(entry) != entry_bytes:
        raise ValueError(f"entry {leaf_index} is not stored in canonical form")
    return {
        "format": PROOF_FORMAT,
        "entry": entry,
        "proof": {
            "log_id": checkpoint["log_id"],
            "leaf_index": leaf_index,
            "tree_size": tree_size,
            "leaf_hash": merkle.leaf_hash(entry_bytes).hex(),
            "audit_path": [h.hex() for h in audit_path],
            "root_hash": root_hash.hex(),
            "checkpoint": checkpoint,
        },
        "public_keys": [key_entry(k) for k in public_keys],
    }


def consistency_document(
    old: dict[str, Any], new: dict[str, Any], proof: Sequence[bytes], public_keys: PublicKeys
) -> dict[str, Any]:
    """The proof that checkpoint `new` extends checkpoint `old`."""
    return {
        "format": CONSISTENCY_FORMAT,
        "old": old,
        "new": new,
        "proof": [h.hex() for h in proof],
        "public_keys": [key_entry(k) for k in public_keys],
    }


# -- checking them --


def verify_document(
    doc: Any,
    trusted_keys: dict[str, bytes] | None,
    tsa_roots: Sequence[x509.Certificate] | None = None,
) -> list[str]:
    """The lines of a success report, or VerifyError naming the first step that failed.

    With `trusted_keys` None the keys inside the document are used, and the report says so
    and lists their fingerprints, to be compared with the company's published keys.
    RFC 3161 timestamps are checked against `tsa_roots` when given, else their signature
    only, and the report says so.
    """
    kind = document_kind(doc)
    if trusted_keys is not None:
        keys = trusted_keys
        key_lines = [f"keys: checked against {len(trusted_keys)} trusted key(s) given"]
    elif kind == CHECKPOINT:
        raise VerifyError(
            f"a bare checkpoint carries no public keys: pass --keys KEYSFILE ({KEYS_URL})"
        )
    else:
        keys = parse_keys(_field(doc, "public_keys", list, "the document"))
        key_lines = _untrusted_key_lines(keys)
    if kind == PROOF_FORMAT:
        lines = _verify_inclusion(doc, keys)
    elif kind == CONSISTENCY_FORMAT:
        lines = _verify_consistency(doc, keys)
    else:
        lines = _verify_bare(doc, keys)
    for checkpoint in document_checkpoints(doc):
        lines += _timestamp_lines(checkpoint, tsa_roots)
    return lines + key_lines


def document_kind(doc: Any) -> str:
    """PROOF_FORMAT, CONSISTENCY_FORMAT or CHECKPOINT; VerifyError for anything else."""
    if not isinstance(doc, dict):
        raise VerifyError("the file does not hold a JSON object")
    if "format" not in doc and "signature" in doc and "tree_size" in doc:
        return CHECKPOINT
    kind = doc.get("format")
    if kind not in (PROOF_FORMAT, CONSISTENCY_FORMAT):
        raise VerifyError(
            f"unknown format {kind!r}: expected {PROOF_FORMAT!r}, {CONSISTENCY_FORMAT!r} "
            "or a signed checkpoint"
        )
    return str(kind)


def document_checkpoints(doc: Any) -> list[dict[str, Any]]:
    """The signed checkpoints a document holds (check it with verify_document first)."""
    kind = document_kind(doc)
    if kind == PROOF_FORMAT:
        return [_field(_field(doc, "proof", dict, "the document"), "checkpoint", dict, "the proof")]
    if kind == CONSISTENCY_FORMAT:
        return [_field(doc, name, dict, "the document") for name in ("old", "new")]
    return [_bare(doc)]


def _verify_inclusion(doc: dict[str, Any], keys: dict[str, bytes]) -> list[str]:
    entry = _field(doc, "entry", dict, "the document")
    proof = _field(doc, "proof", dict, "the document")
    index = _size(proof, "leaf_index", "the proof", minimum=0)
    size = _size(proof, "tree_size", "the proof", minimum=1)
    log_id = _field(proof, "log_id", str, "the proof")
    claimed_leaf = _hash(proof, "leaf_hash", "the proof")
    path = [_hex32(h, f"audit_path[{i}]") for i, h in enumerate(_audit_path(proof))]
    root = _hash(proof, "root_hash", "the proof")
    checkpoint = _field(proof, "checkpoint", dict, "the proof")
    if index >= size:
        raise VerifyError(f"leaf index {index} is outside a tree of size {size}")

    try:
        entry_bytes = canonical(entry)
    except CanonicalError as exc:
        raise VerifyError(f"the entry cannot be put in canonical form (RFC 8785): {exc}") from None
    _check_entry_position(entry, log_id, index)
    leaf = merkle.leaf_hash(entry_bytes)
    if leaf != claimed_leaf:
        raise VerifyError(
            f"the entry does not match the proof: it hashes to leaf {leaf.hex()}, the proof is "
            f"for leaf {claimed_leaf.hex()} (the entry or the proof was altered)"
        )
    if not merkle.verify_inclusion(leaf, index, size, path, root):
        raise VerifyError(
            f"the audit path does not lead from leaf {index} to root {root.hex()} in a tree of "
            f"size {size} (the path, the index or the size was altered)"
        )
    _check_against_checkpoint(checkpoint, log_id, size, root)
    verify_checkpoint(checkpoint, keys)
    return [
        f"entry: {_describe(entry)}, index {index}",
        f"included in log {log_id} at tree size {size}, root {root.hex()}",
        f"checkpoint: {checkpoint['time']}, signed by key {checkpoint['key_id']}",
    ]


def _verify_consistency(doc: dict[str, Any], keys: dict[str, bytes]) -> list[str]:
    old = _field(doc, "old", dict, "the document")
    new = _field(doc, "new", dict, "the document")
    hexes = _field(doc, "proof", list, "the document")
    proof = [_hex32(h, f"proof[{i}]") for i, h in enumerate(hexes)]
    verify_checkpoint(old, keys)
    verify_checkpoint(new, keys)
    if old["log_id"] != new["log_id"]:
        raise VerifyError(f"the checkpoints are of two logs: {old['log_id']}, {new['log_id']}")
    m, n = old["tree_size"], new["tree_size"]
    if not 0 < m <= n:
        raise VerifyError(f"no consistency proof exists from tree size {m} to tree size {n}")
    old_root, new_root = bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"])
    if not merkle.verify_consistency(m, n, old_root, new_root, proof):
        raise VerifyError(
            f"the consistency proof does not show that the log at size {n} extends the log at "
            f"size {m}: the log was rewritten, or the proof altered"
        )
    return [
        f"log {new['log_id']} at tree size {n} extends the log at tree size {m}",
        f"older checkpoint: {old['time']}, signed by key {old['key_id']}",
        f"newer checkpoint: {new['time']}, signed by key {new['key_id']}",
    ]


def _check_against_checkpoint(
    checkpoint: dict[str, Any], log_id: str, size: int, root: bytes
) -> None:
    check_fields(checkpoint)
    if checkpoint.get("root_hash") != root.hex():
        raise VerifyError(
            f"the proof's root {root.hex()} is not the checkpoint's root "
            f"{checkpoint.get('root_hash')!s}"
        )
    if checkpoint.get("tree_size") != size:
        raise VerifyError(
            f"the proof is for tree size {size}, the checkpoint for {checkpoint.get('tree_size')}"
        )
    if checkpoint.get("log_id") != log_id:
        raise VerifyError(f"the proof is for log {log_id}, the checkpoint for another log")


def _check_entry_position(entry: dict[str, Any], log_id: str, index: int) -> None:
    """Entries name their own log and index; a proof must put them where they say."""
    if "index" in entry and entry["index"] != index:
        raise VerifyError(f"the entry says it is entry {entry['index']}, the proof is for {index}")
    if "log_id" in entry and entry["log_id"] != log_id:
        raise VerifyError(f"the entry is of log {entry['log_id']}, the proof of log {log_id}")


def _verify_bare(doc: dict[str, Any], keys: dict[str, bytes]) -> list[str]:
    checkpoint = _bare(doc)
    verify_checkpoint(checkpoint, keys)
    return [
        f"checkpoint of log {checkpoint['log_id']} at tree size {checkpoint['tree_size']}, "
        f"root {checkpoint['root_hash']}",
        f"checkpoint: {checkpoint['time']}, signed by key {checkpoint['key_id']}",
    ]


def _bare(doc: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint itself. An API schema writes an optional field it lacks as null; null
    is never a value of these, so it is read as absent (which is what was signed)."""
    return {k: v for k, v in doc.items() if not (k in OPTIONAL_FIELDS and v is None)}


def _timestamp_lines(
    checkpoint: dict[str, Any], roots: Sequence[x509.Certificate] | None
) -> list[str]:
    if "timestamp" not in checkpoint:
        return []
    size = checkpoint["tree_size"]
    try:
        token = decode_base64(checkpoint["timestamp"])
    except ValueError:
        raise VerifyError(f"checkpoint {size}: its RFC 3161 timestamp is not base64") from None
    try:
        stamp = rfc3161.check_token(token, signed_bytes(checkpoint), roots)
    except VerifyError as exc:
        raise VerifyError(f"checkpoint {size}: {exc}") from None
    when = stamp.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"checkpoint {size}: RFC 3161 timestamp {when} by {stamp.signer}, signature valid"]
    if stamp.chained:
        lines.append(f"checkpoint {size}: the TSA certificate chains to a trust root given")
    else:
        lines.append(
            f"checkpoint {size}: the TSA certificate was not checked against a trust root "
            "(pass --tsa-roots PEM to check it)"
        )
    if late := rfc3161.late_by(stamp.time, parse_time(checkpoint["time"])):
        lines.append(
            f"checkpoint {size}: note: stamped {late} after it was signed, so the timestamp "
            f"shows only that it existed at {when}"
        )
    return lines


def _describe(entry: dict[str, Any]) -> str:
    parts = [f"kind {entry.get('kind', '?')}"]
    if "at" in entry:
        parts.append(f"recorded {entry['at']}")
    return ", ".join(parts)


def _untrusted_key_lines(keys: dict[str, bytes]) -> list[str]:
    lines = [
        "keys: taken from the file itself, so this shows only that the file is consistent.",
        f"      Compare these fingerprints with the company's published keys ({KEYS_URL}):",
    ]
    lines += [f"      {kid}  sha256 {fingerprint(raw)}" for kid, raw in sorted(keys.items())]
    return lines


# -- reading input --


def parse_keys(data: Any) -> dict[str, bytes]:
    """key id -> raw public key, from {"keys": [...]} (as /api/v1/ledger/keys serves it) or a
    bare list of {"key_id", "algorithm", "public_key"}."""
    if isinstance(data, dict) and "keys" in data:
        data = data["keys"]
    if not isinstance(data, list):
        raise VerifyError('a key list must be a JSON array or {"keys": [...]}')
    keys: dict[str, bytes] = {}
    for i, item in enumerate(data):
        where = f"key {i}"
        kid = _field(item, "key_id", str, where) if isinstance(item, dict) else None
        if kid is None:
            raise VerifyError(f"{where} is not a JSON object")
        if item.get("algorithm", "Ed25519") != "Ed25519":
            raise VerifyError(f"key {kid} uses {item['algorithm']!r}; only Ed25519 is known")
        try:
            raw = decode_base64(_field(item, "public_key", str, where))
        except ValueError:
            raise VerifyError(f"key {kid}: public_key is not base64") from None
        if len(raw) != 32 or key_id(raw) != kid:
            raise VerifyError(f"key {kid}: its public_key does not have that key id")
        keys[kid] = raw
    return keys


def load_json(text: str | bytes, what: str) -> Any:
    """json.loads that refuses what could show one thing to a person and another to a
    program: duplicate keys, NaN and Infinity."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise VerifyError(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise VerifyError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "is it complete?"
        ) from None
    except RecursionError:
        raise VerifyError(f"{what} is nested too deeply") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        dup = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise VerifyError(f"the JSON has the key {dup!r} twice in one object")
    return obj


def _no_constant(name: str) -> Any:
    raise VerifyError(f"the JSON holds {name}, which is not a number JSON allows")


def _field(obj: Any, name: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise VerifyError(f"{where} lacks the field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise VerifyError(f"{where}: field {name!r} has the wrong type")
    return value


def _size(obj: dict[str, Any], name: str, where: str, minimum: int) -> int:
    value: int = _field(obj, name, int, where)
    if not minimum <= value <= MAX_SIZE:
        raise VerifyError(f"{where}: {name} {value} is out of range")
    return value


def _audit_path(proof: dict[str, Any]) -> list[Any]:
    path: list[Any] = _field(proof, "audit_path", list, "the proof")
    if len(path) > 64:
        raise VerifyError("the audit path is longer than any tree allows")
    return path


def _hash(obj: dict[str, Any], name: str, where: str) -> bytes:
    return _hex32(_field(obj, name, str, where), f"{where}: {name}")


def _hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise VerifyError(f"{what} is not a SHA-256 hash in hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise VerifyError(f"{what} is not a SHA-256 hash in hex") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# -- the command --


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kaohe verify",
        description="Check kaohe proof files offline: entry -> leaf hash -> audit path -> "
        "root -> signed checkpoint -> RFC 3161 timestamp. Needs no database and no settings.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a proof printed by `kaohe ledger proof`, a consistency proof printed by "
        "`kaohe ledger consistency`, or a signed checkpoint (JSON)",
    )
    parser.add_argument(
        "--keys",
        metavar="KEYSFILE",
        help=f"the company's published public keys (the JSON served at {KEYS_URL}); "
        "the checkpoint must be signed by one of them",
    )
    parser.add_argument(
        "--trust-embedded-keys",
        action="store_true",
        help="accept the keys inside FILE (anyone can put their own key there: compare the "
        "printed fingerprints with the company's published keys yourself)",
    )
    parser.add_argument(
        "--against",
        nargs="+",
        default=[],
        metavar="RECEIPT",
        help="documents handed out earlier (a receipt, a saved checkpoint): each of their "
        "checkpoints must be the same tree as the FILEs' or be linked to them by a "
        "consistency proof among the FILEs (put this option last)",
    )
    parser.add_argument(
        "--tsa-roots",
        metavar="PEM",
        help="certificates (PEM) the timestamping authority's certificate must chain to; "
        "without it a timestamp's signature is checked, not who made it",
    )
    args = parser.parse_args(argv)
    if args.keys is None and not args.trust_embedded_keys:
        print(
            "FAILED: no trusted keys. A proof signed with a key from the file itself proves "
            f"nothing; pass --keys KEYSFILE (the JSON served at {KEYS_URL}, or given to you "
            "by the company), or --trust-embedded-keys to check the fingerprints yourself."
        )
        return 1
    try:
        lines = _run(args)
    except VerifyError as exc:
        print(f"FAILED: {exc}")
        return 1
    except Exception as exc:  # never a traceback for a court's expert
        print(f"FAILED: unexpected error while checking ({type(exc).__name__}: {exc})")
        return 1
    print("OK")
    for line in lines:
        print(f"  {line}")
    return 0


def _run(args: argparse.Namespace) -> list[str]:
    trusted = parse_keys(load_json(read_file(args.keys), args.keys)) if args.keys else None
    roots = None
    if args.tsa_roots:
        roots = rfc3161.load_roots(read_file(args.tsa_roots), args.tsa_roots)
    if len(args.files) == 1 and not args.against:
        return verify_document(load_json(read_file(args.files[0]), args.files[0]), trusted, roots)
    lines: list[str] = []
    files: list[tuple[str, Any]] = []
    receipts: list[tuple[str, Any]] = []
    for paths, documents in ((args.files, files), (args.against, receipts)):
        for path in paths:
            doc, report = _checked(path, trusted, roots)
            documents.append((path, doc))
            lines += [f"{path}:", *(f"  {line}" for line in report)]
    if receipts:
        lines += ["against:", *(f"  {line}" for line in _against(files, receipts))]
    return lines


def _against(files: list[tuple[str, Any]], receipts: list[tuple[str, Any]]) -> list[str]:
    shown = [(name, cp) for name, doc in files for cp in document_checkpoints(doc)]
    held = [(name, cp) for name, doc in receipts for cp in document_checkpoints(doc)]
    links: list[Link] = [(name, doc["old"], doc["new"]) for name, doc in files
                         if document_kind(doc) == CONSISTENCY_FORMAT]  # fmt: skip
    return verify_against(shown, held, links)


def _checked(
    path: str, trusted: dict[str, bytes] | None, roots: Sequence[x509.Certificate] | None
) -> tuple[Any, list[str]]:
    doc = load_json(read_file(path), path)
    try:
        return doc, verify_document(doc, trusted, roots)
    except VerifyError as exc:
        raise VerifyError(f"{path}: {exc}") from None


def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise VerifyError(f"{path}: no such file") from None
    except OSError as exc:
        raise VerifyError(f"{path}: cannot be read ({exc.strerror})") from None


if __name__ == "__main__":
    sys.exit(main())
