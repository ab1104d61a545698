"""Appending many entries at once, for imports and benchmarks: one lock, one claim and a
few multi-row inserts per batch instead of several round trips per entry."""

from collections.abc import Callable, Iterable, Sequence
from itertools import islice

from django.db import connection, transaction

from kaohe.ledger import body, log, tree
from kaohe.ledger.models import Node
from kaohe.lib import merkle

Item = tuple[str, dict[str, str], str, dict]  # kind, subject, actor, payload, as for append
BATCH = 2000


def append_many(items: Iterable[Item], batch: int = BATCH) -> int:
    """Appends the items in order inside the caller's transaction (like `append`, the
    entries exist iff it commits); returns how many. Every item is checked before its
    batch touches the log."""
    total, items = 0, iter(items)
    with transaction.atomic(savepoint=False):
        while chunk := list(islice(items, batch)):
            _append_batch(chunk)
            total += len(chunk)
    return total


def _append_batch(chunk: list[Item]) -> None:
    parts = [body.prepare(kind, subject, actor, payload, None)
             for kind, subject, actor, payload in chunk]  # fmt: skip
    log_id, first = log.claim(len(chunk))
    edge_keys = merkle.subtrees(0, first)
    edge = tree.lookup(edge_keys)
    builder = merkle.TreeBuilder.resume(first, [edge[key] for key in edge_keys])
    at = log.now_ms()
    entries: list[tuple[int, str]] = []
    nodes: list[tuple[int, bytes]] = []
    for offset, prepared in enumerate(parts):
        text = body.assemble(log_id, first + offset, at, prepared)
        leaf = merkle.leaf_hash(text)
        entries.append((first + offset, text.decode()))
        nodes += [(Node.key(level, index), h) for (level, index), h in builder.append(leaf)]
    _insert_rows(entries, nodes)


def _insert_rows(entries: list[tuple[int, str]], nodes: list[tuple[int, bytes]]) -> None:
    with connection.cursor() as cursor:
        _insert(cursor, log.insert_entry_sql, entries)
        _insert(cursor, log.insert_nodes_sql, nodes)


def _insert(cursor, sql: Callable[[int], str], rows: Sequence[tuple[int, str | bytes]]) -> None:
    per_statement = 400  # two parameters a row; SQLite allows 32766 a statement
    for start in range(0, len(rows), per_statement):
        batch = rows[start : start + per_statement]
        cursor.execute(sql(len(batch)), [value for row in batch for value in row])
