"""Appending to the log: the one way an entry, and the tree nodes it completes, are written.

The log has a single ordering point, the LogHead row. `append` raises its size with a
conditional UPDATE; on PostgreSQL that row stays locked until the caller's transaction ends,
and on SQLite the IMMEDIATE transaction (see settings) already holds the database's write
lock. So indexes come out 0, 1, 2, ... without gaps or duplicates, and an entry exists
exactly when the caller's change commits. On PostgreSQL the whole append is one call of the
function `ledger_append` (migrations 0006, 0007), a round trip instead of two.
"""

import datetime as dt
import uuid

from django.db import DatabaseError, connection, transaction

from kaohe.ledger import body
from kaohe.ledger.body import EntryError
from kaohe.ledger.models import Entry, LogHead, Node
from kaohe.lib import clock, merkle
from kaohe.lib.http import client_ip

__all__ = ["EntryError", "append"]

MAX_USER_AGENT = 1000
DATA_CORRUPTED = "XX001"  # the SQLSTATE ledger_append raises when a tree node is missing


def append(kind: str, subject: dict[str, str], actor: str, payload: dict, request=None) -> Entry:
    """Appends one entry inside the caller's transaction and returns it; raises EntryError,
    before touching anything, when the input cannot be recorded.

    Call it as the last write of an action: on PostgreSQL the log stays locked for other
    appenders from here until the transaction commits, so work done after it (or a lock
    taken after it) holds up every other writer.
    """
    parts = body.prepare(kind, subject, actor, payload, _request_part(request))
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            index, at, text = _append_postgresql(parts)
        else:
            log_id, index = claim()
            at = now_ms()
            assembled = body.assemble(log_id, index, at, parts)
            text = assembled.decode()
            _write(index, text, merkle.leaf_hash(assembled))
    # The columns the database computes from the body, as it computes them.
    entry = Entry(
        index=index, body=text, kind=kind, actor=actor, at=at,
        employee_no=subject.get("employee", ""), subject=parts.subject.decode(),
    )  # fmt: skip
    entry._state.adding, entry._state.db = False, connection.alias
    return entry


def _request_part(request) -> dict | None:
    if request is None:
        return None
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT]
    return {"ip": client_ip(request), "user_agent": user_agent}


def claim(count: int = 1) -> tuple[str, int]:
    """Raises the log's size by `count` under its lock; returns (log_id, the first new index)."""
    row = _raise_size(count)
    if row is None:  # the first entry ever
        ensure_head()
        row = _raise_size(count)
    if row is None:
        raise RuntimeError("the ledger's head row is missing and could not be created")
    log_id, size = row
    return log_id, size - count


def ensure_head() -> None:
    """Creates the log head with a new random log id; of concurrent callers one insert wins."""
    LogHead.objects.bulk_create(
        [LogHead(pk=1, log_id=uuid.uuid4().hex, size=0)], ignore_conflicts=True
    )


def now_ms() -> dt.datetime:
    """Now, cut to whole milliseconds so the `at` column holds exactly what the body says."""
    now = clock.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _raise_size(count: int) -> tuple[str, int] | None:
    table = connection.ops.quote_name(LogHead._meta.db_table)
    update = f"UPDATE {table} SET size = size + %s WHERE id = 1"  # noqa: S608
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:  # UPDATE ... RETURNING too
            cursor.execute(f"{update} RETURNING log_id, size", [count])
            return cursor.fetchone()
        cursor.execute(update, [count])
        if cursor.rowcount == 0:
            return None
        cursor.execute(f"SELECT log_id, size FROM {table} WHERE id = 1")  # noqa: S608
        return cursor.fetchone()


def _completed_nodes(index: int, leaf: bytes) -> list[tuple[int, bytes]]:
    """(Node.key, hash) of the leaf and of every perfect subtree it completes, reading the
    left siblings those need in one query."""
    siblings = [Node.key(level, (index >> level) - 1) for level in range(_trailing_ones(index))]
    found = _stored(siblings)
    nodes, h = [(Node.key(0, index), leaf)], leaf
    for level, key in enumerate(siblings, start=1):
        if key not in found:
            missing = (level - 1, (index >> (level - 1)) - 1)
            raise LookupError(f"ledger node {missing} is missing; run `kaohe ledger verify`")
        h = merkle.node_hash(bytes(found[key]), h)
        nodes.append((Node.key(level, index >> level), h))
    return nodes


def _stored(keys: list[int]) -> dict[int, bytes]:
    """The stored hashes of nodes `keys`; queried even for none, so that every append
    costs the same number of queries (query-count tests compare them)."""
    table = connection.ops.quote_name(Node._meta.db_table)
    keys = keys or [-1]
    marks = ", ".join(["%s"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, hash FROM {table} WHERE id IN ({marks})", keys)  # noqa: S608
        return dict(cursor.fetchall())


# What an entry's row is written with: the database computes the other columns from the body.
ENTRY_COLUMNS = ("index", "body")


def insert_entry_sql(rows: int = 1) -> str:
    q = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(ENTRY_COLUMNS))})"
    return (
        f"INSERT INTO {q(Entry._meta.db_table)} ({', '.join(map(q, ENTRY_COLUMNS))}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)}"
    )


def insert_nodes_sql(rows: int) -> str:
    table = connection.ops.quote_name(Node._meta.db_table)
    return f"INSERT INTO {table} (id, hash) VALUES {', '.join(['(%s, %s)'] * rows)}"  # noqa: S608


def _write(index: int, text: str, leaf: bytes) -> None:
    """Writes the entry, its leaf and every perfect subtree the leaf completes (SQLite, in
    process, where queries are cheap: one reads the left siblings, two insert)."""
    nodes = _completed_nodes(index, leaf)
    with connection.cursor() as cursor:
        cursor.execute(insert_entry_sql(), [index, text])
        cursor.execute(insert_nodes_sql(len(nodes)), [value for node in nodes for value in node])


_CALL = "SELECT entry_index, entry_at_ms, entry_body FROM ledger_append(%s, %s, %s, %s, %s)"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _append_postgresql(parts: body.Prepared) -> tuple[int, dt.datetime, str]:
    """One round trip: `ledger_append` (migrations 0006, 0007) claims the index under the
    head row's lock, fills the time, index and log id into the body's frame, and writes the
    entry and its tree nodes. Returns (index, time, body) as stored; the time comes as
    milliseconds since the epoch, whatever the session's time zone."""
    params = [*(part.decode() for part in body.frame(parts)), now_ms()]
    for _attempt in range(2):
        try:
            with connection.cursor() as cursor:
                cursor.execute(_CALL, params)
                index, at_ms, text = cursor.fetchone()
        except DatabaseError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == DATA_CORRUPTED:
                raise LookupError(exc.__cause__.diag.message_primary) from exc
            raise
        if index is not None:
            return index, _EPOCH + dt.timedelta(milliseconds=at_ms), text
        ensure_head()  # the first entry ever
    raise RuntimeError("the ledger's head row is missing and could not be created")


def _trailing_ones(n: int) -> int:
    return (~n & (n + 1)).bit_length() - 1
