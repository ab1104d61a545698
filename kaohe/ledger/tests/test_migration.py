"""Migration 0005 keeps an existing log valid: entries written with every column stored get
the same columns computed from their bodies, and the log still verifies."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from kaohe.ledger import body
from kaohe.ledger.audit import verify_log
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.log import now_ms
from kaohe.ledger.models import Entry, Node
from kaohe.lib import merkle

BEFORE = ("ledger", "0004_checkpoint_previous")
LOG_ID = "0123456789abcdef0123456789abcdef"
SIZE = 11


def migrate(target: tuple[str, str] | None) -> None:
    executor = MigrationExecutor(connection)
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)


def write_old_log() -> list[tuple]:
    """SIZE entries as 0004's append wrote them: every column stored, leaf_hash too."""
    builder, at, rows = merkle.TreeBuilder(), now_ms(), []
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_loghead")
        cursor.execute("INSERT INTO ledger_loghead (id, log_id, size) VALUES (1, %s, %s)",
                       [LOG_ID, SIZE])  # fmt: skip
        for index in range(SIZE):
            subject = {"employee": f"E{index % 3}", "document": f"D-{index}"} if index else {}
            parts = body.prepare("result.signed", subject, f"user:{index}:hr", {"n": index}, None)
            text = body.assemble(LOG_ID, index, at, parts)
            leaf = merkle.leaf_hash(text)
            row = (index, "result.signed", subject.get("employee", ""), parts.subject.decode(),
                   f"user:{index}:hr", at, text.decode())  # fmt: skip
            rows.append(row)
            cursor.execute(
                'INSERT INTO ledger_entry ("index", kind, employee_no, subject, actor, at, body, '
                "leaf_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [*row[:5], connection.ops.adapt_datetimefield_value(at), row[6], leaf],
            )
            for key, h in builder.append(leaf):
                cursor.execute("INSERT INTO ledger_node (id, hash) VALUES (%s, %s)",
                               [Node.key(*key), h])  # fmt: skip
    return rows


@pytest.mark.django_db(transaction=True)
def test_an_existing_log_keeps_its_columns_and_verifies_after_the_migration():
    try:  # a failure going back must not leave the next tests a half-migrated database
        migrate(BEFORE)
        rows = write_old_log()
    finally:
        migrate(None)
    make_checkpoint()
    assert verify_log() == []
    columns = ("index", "kind", "employee_no", "subject", "actor", "at", "body")
    assert list(Entry.objects.values_list(*columns)) == rows
