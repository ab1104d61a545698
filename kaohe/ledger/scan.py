"""Queries of `kaohe ledger verify` that need Django's connection; the pass over the
entries themselves is in `sweep`."""

from django.db import connection

from kaohe.ledger import sweep
from kaohe.ledger.models import Entry, Node


def lowest_outside(size: int) -> int | None:
    """The lowest index of an entry outside 0 .. size - 1, if any. Two range queries: one
    with OR would read every entry."""
    for rows in (Entry.objects.filter(index__lt=0), Entry.objects.filter(index__gte=size)):
        lowest = rows.order_by("index").values_list("index", flat=True).first()
        if lowest is not None:
            return lowest
    return None


def reader() -> sweep.Reader:
    """The sweep's queries through Django's connection (inside its transaction)."""
    connection.ensure_connection()
    return sweep.Reader(connection.connection, sweep.Source(connection.vendor, {}, **tables()))


def tables() -> dict[str, str]:
    return {"entries": Entry._meta.db_table, "nodes": Node._meta.db_table}
