"""Appending many entries at once, for imports and benchmarks: one lock, one claim and a
few multi-row inserts per batch instead of several round trips per entry."""

from collections.abc import Iterable
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
    entries, nodes = [], []
    for offset, prepared in enumerate(parts):
        text = body.assemble(log_id, first + offset, at, prepared)
        leaf = merkle.leaf_hash(text)
        entries.append((first + offset, text.decode()))
        nodes += [(Node.key(level, index), h) for (level, index), h in builder.append(leaf)]
    _insert_rows(entries, nodes)


def _insert_rows(entries: list[list], nodes: list[tuple[int, bytes]]) -> None:
    rows_per_statement = 100  # SQLite allows 32766 parameters per statement
    with connection.cursor() as cursor:
        for start in range(0, len(entries), rows_per_statement):
            rows = entries[start : start + rows_per_statement]
            cursor.execute(log.insert_entry_sql(len(rows)), [v for row in rows for v in row])
        for start in range(0, len(nodes), rows_per_statement * 4):
            rows = nodes[start : start + rows_per_statement * 4]
            cursor.execute(log.insert_nodes_sql(len(rows)), [v for row in rows for v in row])
