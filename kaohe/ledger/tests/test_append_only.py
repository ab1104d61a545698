"""Written ledger rows stay as written: the models refuse changes, and on PostgreSQL so do
triggers, also for raw SQL."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.log import append
from kaohe.ledger.models import AppendOnlyError, Checkpoint, Entry, LogHead, Node, SigningKey
from kaohe.lib import merkle

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no triggers guarding the ledger"
)


@pytest.fixture
def entry():
    return append("result.signed", {"employee": "E1"}, "user:1:a", {"n": 1})


def test_an_entry_cannot_be_saved_again_or_deleted(entry):
    entry.kind = "result.voided"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


@pytest.mark.parametrize("model", [Entry, Node])
def test_querysets_refuse_to_update_or_delete_ledger_rows(entry, model):
    with pytest.raises(AppendOnlyError):
        model.objects.all().update(id=7) if model is Node else model.objects.update(kind="x")
    with pytest.raises(AppendOnlyError):
        model.objects.all().delete()
    with pytest.raises(AppendOnlyError):  # INSERT ... ON CONFLICT DO UPDATE
        upsert_over_the_first_row(model)
    assert Entry.objects.get(index=0).body == entry.body
    assert bytes(Node.objects.get().hash) == merkle.leaf_hash(entry.body.encode())


def upsert_over_the_first_row(model) -> None:
    if model is Node:
        rows, fields, unique = [Node(id=0, hash=bytes(32))], ["hash"], ["id"]
    else:
        forged = Entry.objects.get(index=0).body.replace('"n":1', '"n":2')
        rows, fields, unique = [Entry(index=0, body=forged)], ["body"], ["index"]
    model.objects.bulk_create(
        rows, update_conflicts=True, update_fields=fields, unique_fields=unique
    )


def refused(sql: str, params=()) -> None:
    with (
        pytest.raises(DatabaseError, match="ledger"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


@postgresql_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET body = body || ' '",
        'UPDATE ledger_entry SET "index" = "index" + 100',
        "DELETE FROM ledger_entry",
        "UPDATE ledger_node SET hash = '\\x00'::bytea",
        "DELETE FROM ledger_node",
        "UPDATE ledger_loghead SET size = size - 1",
        "UPDATE ledger_loghead SET log_id = 'other'",
        "DELETE FROM ledger_loghead",
    ],
)
def test_postgresql_refuses_raw_changes_to_entries_nodes_and_the_log_head(entry, sql):
    refused(sql)


@postgresql_only
def test_postgresql_lets_a_checkpoint_gain_its_timestamp_but_not_change_what_was_signed(entry):
    checkpoint = make_checkpoint()
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        timestamp_status="failed", timestamp_attempts=1
    )
    for sql in (
        "UPDATE ledger_checkpoint SET root_hash = repeat('0', 64)",
        "UPDATE ledger_checkpoint SET signature = 'forged'",
        "UPDATE ledger_checkpoint SET tree_size = 0",
        "DELETE FROM ledger_checkpoint",
        "UPDATE ledger_signingkey SET public_key = 'other'",
        "DELETE FROM ledger_signingkey",
    ):
        refused(sql)
    assert Checkpoint.objects.get().timestamp_attempts == 1
    assert SigningKey.objects.count() == 1
    assert LogHead.objects.get().size == 1
