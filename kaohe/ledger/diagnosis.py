"""What happened to one entry that does not check out: missing, inserted, reordered or
changed (and how). The verifier's pass only flags the first bad index; this looks at that
entry, its neighbour and the tree's stored copies of their leaf hashes to say which."""

import json
from dataclasses import dataclass

from kaohe.ledger import scan
from kaohe.ledger.body import rfc3339
from kaohe.ledger.models import Entry, Node
from kaohe.lib import merkle
from kaohe.lib.canonical import CanonicalError, canonical

# An entry's columns, each of which must agree with its body (see kaohe.ledger.schema).
COLUMNS = ("index", "kind", "actor", "at", "subject", "employee_no")


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: `index` names an entry, `checkpoint` a Checkpoint's pk."""

    kind: str  # missing, inserted, reordered, changed, node, checkpoint
    message: str
    index: int | None = None
    checkpoint: int | None = None

    def __str__(self) -> str:
        return self.message


def diagnose(index: int, size: int, log_id: str) -> Problem:
    """What happened to the entry at `index`, the first one that does not check out."""
    if not 0 <= index < size:
        return Problem("inserted", f"entry {index} lies outside the log's {size} entries", index)
    bodies = _bodies(index, index + 2)
    body = bodies.get(index)
    if body is None:
        return Problem("missing", f"entry {index} is missing", index)
    if not _is_utf8(body):
        return _changed(index, "its body is not UTF-8 text")
    leaf = merkle.leaf_hash(body)
    claimed = _claimed_index(body)
    stored = _stored_leaves({index, index + 1, claimed if claimed is not None else index})
    if leaf != stored.get(index):
        moved = _moved(index, leaf, claimed, stored, bodies.get(index + 1))
        if moved:
            return moved
        how = "(the entry, or the tree's copy of its hash, was changed)"
        return _changed(index, f"its body no longer hashes to leaf {index} of the tree {how}")
    row = Entry.objects.filter(index=index).values(*COLUMNS).get()
    mismatch = _column_mismatch(row, body, log_id)
    if mismatch:
        return _changed(index, mismatch)
    return _changed(index, "its body is not canonical JSON")


def _changed(index: int, how: str) -> Problem:
    return Problem("changed", f"entry {index} was changed: {how}", index)


def _bodies(start: int, end: int) -> dict[int, bytes]:
    """{index: body} of the entries start <= index < end, as the bytes stored: read as
    text, a body that is not UTF-8 (written around the application) fails on SQLite."""
    return dict(scan.reader().entry_rows(start, end))


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _moved(index, leaf, claimed, stored, next_body) -> Problem | None:
    """Missing, reordered or inserted, when the entry at `index` is another one of the log."""
    if claimed is not None and claimed != index and leaf == stored.get(claimed):
        next_claims = _claimed_index(next_body) if next_body is not None else None
        if claimed == index + 1 and next_claims != index:
            message = f"entry {index} is missing: entry {index + 1} and later ones moved down"
            return Problem("missing", message, index)
        message = f"entry {index} was reordered: position {index} holds entry {claimed}"
        return Problem("reordered", message, index)
    if next_body is not None and merkle.leaf_hash(next_body) == stored.get(index):
        message = f"an entry was inserted at {index}: entry {index} now sits at {index + 1}"
        return Problem("inserted", message, index)
    return None


def _stored_leaves(indexes: set[int]) -> dict[int, bytes]:
    """{index: hash} of the stored level-0 nodes (whose key is the index itself)."""
    rows = Node.objects.filter(id__in=[Node.key(0, i) for i in indexes if i >= 0])
    return {pk: bytes(h) for pk, h in rows.values_list("id", "hash")}


def _claimed_index(body: bytes) -> int | None:
    """The index the body itself names, when it parses as a JSON object."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    claimed = document.get("index") if isinstance(document, dict) else None
    return claimed if isinstance(claimed, int) else None


def _column_mismatch(row: dict, body: bytes, log_id: str) -> str:
    """Names the columns, and a log id other than the log head's, that disagree with the
    body (empty when they all agree)."""
    try:
        document = json.loads(body)
    except ValueError:
        return "its body is not JSON"
    if not isinstance(document, dict):
        return "its body is not a JSON object"
    subject = document.get("subject")
    expected = {
        "index": row["index"],
        "kind": row["kind"],
        "actor": row["actor"],
        "at": rfc3339(row["at"]),
        "subject": json.loads(row["subject"]) if _is_json(row["subject"]) else row["subject"],
    }
    wrong = [name for name, value in expected.items() if document.get(name) != value]
    employee = subject.get("employee", "") if isinstance(subject, dict) else None
    if employee != row["employee_no"]:
        wrong.append("employee_no")
    if "subject" not in wrong and _canonical_text(subject) != row["subject"]:
        wrong.append("subject")
    found = []
    if document.get("log_id") != log_id:
        found.append(f"its body names log {document.get('log_id')}, the log head says {log_id}")
    if len(wrong) == 1:
        found.append(f"its {wrong[0]} column disagrees with its body")
    elif wrong:
        found.append(f"its {', '.join(wrong)} columns disagree with its body")
    return "; ".join(found)


def _canonical_text(value) -> str | None:
    try:
        return canonical(value).decode()
    except CanonicalError:
        return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
