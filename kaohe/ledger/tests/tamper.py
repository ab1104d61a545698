"""Going around the append-only guard, as someone with the database would: raw SQL (on
PostgreSQL after switching the guard triggers off inside the test's transaction, which rolls
back with it)."""

import datetime as dt

from django.db import connection

from kaohe.ledger import keys, schema
from kaohe.ledger.models import Checkpoint, Entry, LogHead, Node
from kaohe.lib import merkle
from kaohe.lib.checkpoint import sign_checkpoint, signed_bytes


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("entry", "node", "checkpoint", "loghead", "signingkey"):
                cursor.execute(f"ALTER TABLE ledger_{table} DISABLE TRIGGER USER")
        cursor.execute(statement, params)


def cut_tail(size: int, levels: int = 32) -> None:
    """Removes the entries from `size` on, every tree node over them, and shrinks the head:
    the log as if it had never grown past `size`."""
    sql('DELETE FROM ledger_entry WHERE "index" >= %s', [size])
    for level in range(levels):
        # Keep the subtrees that end at or before `size`: index < size >> level.
        sql("DELETE FROM ledger_node WHERE id >= %s AND id < %s",
            [Node.key(level, size >> level), Node.key(level + 1, 0)])  # fmt: skip
    sql("UPDATE ledger_loghead SET size = %s", [size])


def rewrite_entry(index: int, body: str) -> None:
    """Replaces entry `index` with `body` and rebuilds every tree node from the entries, as
    someone covering their tracks would: the stored log then agrees with itself."""
    sql('UPDATE ledger_entry SET body = %s WHERE "index" = %s', [body, index])
    sql("DELETE FROM ledger_node")
    builder = merkle.TreeBuilder()
    nodes = []
    for text in Entry.objects.order_by("index").values_list("body", flat=True):
        completed = builder.append(merkle.leaf_hash(text.encode()))
        nodes += [Node(id=Node.key(*key), hash=h) for key, h in completed]
    Node.objects.bulk_create(nodes)


def plant_checkpoint(
    tree_size: int, root_hash: bytes, time: dt.datetime, previous: str | None, private=None
) -> Checkpoint:
    """A checkpoint signed with the current key (or `private`) and inserted directly."""
    key = private or keys.signing_key()[0]
    signed = sign_checkpoint(key, LogHead.objects.get().log_id, tree_size, root_hash, time,
                             previous=previous)  # fmt: skip
    return Checkpoint.objects.create(
        tree_size=tree_size, root_hash=signed["root_hash"], created_at=time,
        key_id=signed["key_id"], previous=previous or "", body=signed_bytes(signed).decode(),
        signature=signed["signature"],
    )  # fmt: skip


def drop_chain_guard() -> None:
    """Drops the unique index on Checkpoint.previous, which would refuse a second checkpoint
    following the same one."""
    sql("DROP INDEX checkpoint_previous_unique")


def make_plain(column: str) -> None:
    """Turns the entries' generated `column` into a plain one holding the same values, as
    someone changing the table's definition would."""
    if connection.vendor == "postgresql":
        sql(f"ALTER TABLE ledger_entry ALTER COLUMN {column} DROP EXPRESSION")
        return
    # SQLite cannot: the table is made again, with that column plain.
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'ledger_entry'")
        (table,) = cursor.fetchone()
        definition = schema._definitions()[column]
        plain = definition.split(" GENERATED ALWAYS AS ")[0]
        cursor.execute(table.replace(definition, plain).replace('"ledger_entry"', "plain_entry"))
        columns = f'"index", body, {column}'
        cursor.execute(f"INSERT INTO plain_entry ({columns}) SELECT {columns} FROM ledger_entry")  # noqa: S608
        cursor.execute("DROP TABLE ledger_entry")
        cursor.execute("ALTER TABLE plain_entry RENAME TO ledger_entry")
