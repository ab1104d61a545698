"""Entry bodies: the canonical JSON (RFC 8785) a leaf hash covers.

A body is {"v": 1, "log_id", "index", "kind", "subject", "actor", "at", "request"?,
"payload"}. Everything but the log id, index and time is known before the log is locked, so
it is checked and serialised first (`prepare`); `assemble` then only puts those three into
the frame of bytes around them (`frame`) while the log is held. RFC 8785 writes an object's
members sorted by name, each value in its own canonical form, so joining canonical parts in
name order gives the canonical whole.
"""

import datetime as dt
import re
from dataclasses import dataclass

from kaohe.lib.canonical import CanonicalError, canonical

VERSION = 1
# U+0000 as canonical JSON writes it (\u0000 after an even number of backslashes):
# PostgreSQL's json cannot turn it into text, so the columns computed from a body holding it
# could not be, and the entry could be written on SQLite but not on PostgreSQL.
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
MAX_KIND, MAX_ACTOR, MAX_SUBJECT, MAX_EMPLOYEE_NO = 64, 200, 500, 32


class EntryError(ValueError):
    """The entry cannot be written as given (a bad kind, subject, actor or payload)."""


@dataclass(frozen=True)
class Prepared:
    kind: bytes
    actor: bytes
    subject: bytes  # also the entry's `subject` column
    request: bytes | None
    payload: bytes


def prepare(
    kind: str, subject: dict[str, str], actor: str, payload: dict, request: dict | None
) -> Prepared:
    """Checks and serialises what the caller gives; raises EntryError before any write."""
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND:
        raise EntryError(f"kind must be a string of 1 to {MAX_KIND} characters, not {kind!r}")
    if not isinstance(actor, str) or not 0 < len(actor) <= MAX_ACTOR:
        raise EntryError(f"actor must be a string of 1 to {MAX_ACTOR} characters, not {actor!r}")
    if not isinstance(subject, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in subject.items()
    ):
        raise EntryError(f"subject must map names to strings, not {subject!r}")
    if len(subject.get("employee", "")) > MAX_EMPLOYEE_NO:
        raise EntryError(f"subject employee number is longer than {MAX_EMPLOYEE_NO} characters")
    if not isinstance(payload, dict):
        raise EntryError(f"payload must be a JSON object, not {type(payload).__name__}")
    try:
        prepared = Prepared(
            kind=canonical(kind),
            actor=canonical(actor),
            subject=canonical(subject),
            request=None if request is None else canonical(request),
            payload=canonical(payload),
        )
    except CanonicalError as exc:
        raise EntryError(str(exc)) from exc
    for name in ("kind", "actor", "subject", "request", "payload"):
        if _NUL.search(getattr(prepared, name) or b""):
            raise EntryError(f"{name} holds the character U+0000, which cannot be recorded")
    if len(prepared.subject.decode()) > MAX_SUBJECT:
        raise EntryError(f"subject is longer than {MAX_SUBJECT} characters as JSON")
    return prepared


def assemble(log_id: str, index: int, at: dt.datetime, parts: Prepared) -> bytes:
    """The canonical body; `log_id` is hex and `at` is UTC, so neither needs escaping."""
    before_at, at_to_index, index_to_log_id, after_log_id = frame(parts)
    return b"".join((
        before_at, rfc3339(at).encode(), at_to_index, b"%d" % index,
        index_to_log_id, log_id.encode(), after_log_id,
    ))  # fmt: skip


def frame(parts: Prepared) -> tuple[bytes, bytes, bytes, bytes]:
    """The body around the three values only the locked log knows: the text before the
    time, between the time and the index, between the index and the log id, and after it.
    (PostgreSQL's `ledger_append` joins them with the values it takes.)"""
    request = b',"request":' + parts.request if parts.request is not None else b""
    return (
        b'{"actor":' + parts.actor + b',"at":"',
        b'","index":',
        b',"kind":' + parts.kind + b',"log_id":"',
        b'","payload":' + parts.payload + request + b',"subject":' + parts.subject
        + b',"v":%d}' % VERSION,
    )  # fmt: skip


def rfc3339(at: dt.datetime) -> str:
    """UTC time as RFC 3339 with milliseconds and Z, as bodies carry it."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
