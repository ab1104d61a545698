"""`kaohe ledger verify` recomputes the stored log and names what was tampered with.

Each tamper goes around the append-only guard with raw SQL (on PostgreSQL after switching
the guard triggers off inside the test's transaction, which rolls back with it)."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from kaohe.ledger.audit import is_canonical, verify_log
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.diagnosis import diagnose
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, Entry, LogHead, Node
from kaohe.ledger.tests.tamper import make_plain, sql
from kaohe.lib import merkle

pytestmark = pytest.mark.django_db
SIZE = 20


@pytest.fixture
def log() -> list[Checkpoint]:
    """20 entries with checkpoints at 8 and 20."""
    for n in range(SIZE):
        append("result.signed", {"employee": f"E{n % 3}", "document": f"D-{n}"},
               f"user:{n % 4}:hr", {"n": n, "doc_sha256": f"{n:064x}"})  # fmt: skip
        if n + 1 in (8, SIZE):
            make_checkpoint()
    return list(Checkpoint.objects.order_by("tree_size"))


def body(index: int) -> str:
    return Entry.objects.get(index=index).body


def failure() -> str:
    with pytest.raises(CommandError) as raised:
        call_command("ledger", "verify")
    return str(raised.value)


def test_an_intact_log_verifies(log, capsys):
    call_command("ledger", "verify")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"OK: {SIZE} entries, root {log[-1].root_hash}, 2 checkpoints verified"
    assert out[1] == "  checkpoint chain: 2 chained, 0 from before the chain"
    call_command("ledger", "verify", "--deep")  # every body parsed and checked too
    call_command("ledger", "verify", "--jobs", "1")


def test_jobs_must_be_at_least_one(log):
    with pytest.raises(CommandError, match="--jobs"):
        call_command("ledger", "verify", "--jobs", "0")


CHANGED = [
    ("kind", "'result.voided'"),
    ("employee_no", "'E9'"),
    ("subject", """'{"document":"D-5","employee":"E9"}'"""),
    ("actor", "'user:9:intruder'"),
    ("at", "%s"),  # a_second_later
]


def a_second_later(index: int) -> dt.datetime:
    return Entry.objects.get(index=index).at + dt.timedelta(seconds=1)


@pytest.mark.parametrize(("column", "value"), CHANGED)
def test_the_database_refuses_to_change_a_column_computed_from_the_body(log, column, value):
    params = [a_second_later(5)] if column == "at" else []
    with pytest.raises(DatabaseError), transaction.atomic():
        sql(f'UPDATE ledger_entry SET {column} = {value} WHERE "index" = 5', params)  # noqa: S608


@pytest.mark.parametrize(("column", "value"), CHANGED)
def test_a_column_made_plain_and_changed_is_named(log, column, value):
    params = [a_second_later(5)] if column == "at" else []
    make_plain(column)
    sql(f'UPDATE ledger_entry SET {column} = {value} WHERE "index" = 5', params)  # noqa: S608
    message = failure()
    assert "entry 5 was changed" in message and f"its {column} column" in message
    (schema,) = [p for p in verify_log() if p.kind == "schema"]
    assert f"the entries' {column} columns are no longer computed" in str(schema)


def test_a_column_made_plain_but_unchanged_is_only_a_schema_problem(log):
    make_plain("kind")
    assert [p.kind for p in verify_log()] == ["schema"]


def test_a_changed_body_is_named(log):
    sql("""UPDATE ledger_entry SET body = replace(body, 'D-5', 'D-6') WHERE "index" = 5""")
    assert "entry 5 was changed" in failure()


def test_a_changed_body_is_caught_by_the_tree(log):
    forged = body(5).replace('"n":5', '"n":500')
    sql('UPDATE ledger_entry SET body = %s WHERE "index" = 5', [forged])
    message = failure()
    assert "entry 5 was changed: its body no longer hashes to leaf 5 of the tree" in message
    problems = verify_log()
    assert [p.checkpoint for p in problems if p.kind == "checkpoint"] == [cp.pk for cp in log]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL text is always UTF-8")
def test_a_body_that_is_not_utf8_text_is_named(log):
    sql("""UPDATE ledger_entry SET body = CAST(replace(body, 'D-5', 'D-5' || X'FF') AS TEXT)
           WHERE "index" = 5""")  # fmt: skip
    assert "entry 5 was changed: its body is not UTF-8 text" in failure()


def test_a_body_of_another_log_than_the_log_head_is_named(log):
    old = LogHead.objects.get().log_id
    sql("UPDATE ledger_loghead SET log_id = %s", ["f" * 32])
    message = str(diagnose(0, SIZE, "f" * 32))
    assert message == f"entry 0 was changed: its body names log {old}, the log head says {'f' * 32}"
    assert message in [str(p) for p in verify_log(deep=True)]


def test_a_deleted_entry_is_named_as_missing(log):
    sql('DELETE FROM ledger_entry WHERE "index" = 5')
    assert "entry 5 is missing" in failure()


def test_the_deleted_last_entry_is_named_as_missing(log):
    sql('DELETE FROM ledger_entry WHERE "index" = 19')
    assert "entry 19 is missing" in failure()


def test_an_entry_moved_to_another_index_is_named_as_missing_at_its_place(log):
    sql('UPDATE ledger_entry SET "index" = 500 WHERE "index" = 5')
    assert "entry 5 is missing" in failure()


def test_a_deleted_entry_with_the_later_ones_renumbered_is_named(log):
    sql('DELETE FROM ledger_entry WHERE "index" = 5')
    for index in range(6, SIZE):
        sql('UPDATE ledger_entry SET "index" = "index" - 1 WHERE "index" = %s', [index])
    assert "entry 5 is missing: entry 6 and later ones moved down" in failure()


def test_two_swapped_entries_are_named_as_reordered(log):
    sql('UPDATE ledger_entry SET "index" = -1 WHERE "index" = 5')
    sql('UPDATE ledger_entry SET "index" = 5 WHERE "index" = 9')
    sql('UPDATE ledger_entry SET "index" = 9 WHERE "index" = -1')
    assert "entry 5 was reordered: position 5 holds entry 9" in failure()


def test_neighbours_swapped_are_named_as_reordered(log):
    sql('UPDATE ledger_entry SET "index" = -1 WHERE "index" = 5')
    sql('UPDATE ledger_entry SET "index" = 5 WHERE "index" = 6')
    sql('UPDATE ledger_entry SET "index" = 6 WHERE "index" = -1')
    assert "entry 5 was reordered: position 5 holds entry 6" in failure()


COLUMNS = '"index", body'


def test_an_entry_inserted_after_the_end_is_named(log):
    sql(
        f'INSERT INTO ledger_entry ({COLUMNS}) SELECT 20, body FROM ledger_entry WHERE "index" = 19'  # noqa: S608
    )
    assert "entry 20 lies outside the log's 20 entries" in failure()


def test_an_entry_inserted_in_the_middle_is_named(log):
    for index in range(SIZE - 1, 4, -1):
        sql('UPDATE ledger_entry SET "index" = "index" + 1 WHERE "index" = %s', [index])
    forged = json.loads(body(4)) | {"index": 5, "kind": "result.forged"}
    text = json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sql(f"INSERT INTO ledger_entry ({COLUMNS}) VALUES (5, %s)", [text])  # noqa: S608
    assert "an entry was inserted at 5: entry 5 now sits at 6" in failure()


def test_an_altered_inner_node_is_named(log):
    sql("UPDATE ledger_node SET hash = %s WHERE id = %s", [bytes(32), Node.key(2, 1)])
    assert "stored tree node (2, 1) over entries 4..7 does not match the entries" in failure()


def test_a_missing_inner_node_is_named(log):
    sql("DELETE FROM ledger_node WHERE id = %s", [Node.key(3, 1)])
    assert "stored tree node (3, 1) over entries 8..15 is missing" in failure()


def test_an_altered_leaf_node_names_its_entry(log):
    sql("UPDATE ledger_node SET hash = %s WHERE id = %s", [bytes(32), Node.key(0, 7)])
    assert "entry 7" in failure()


def test_a_checkpoint_with_another_root_is_named(log):
    sql("UPDATE ledger_checkpoint SET root_hash = %s WHERE id = %s", ["ab" * 32, log[0].pk])
    message = failure()
    assert f"checkpoint #{log[0].pk} (size 8): root {'ab' * 32} does not match" in message


def test_a_checkpoint_whose_signed_body_was_changed_is_named(log):
    forged = log[0].body.replace(log[0].root_hash, "ab" * 32)
    sql("UPDATE ledger_checkpoint SET body = %s, root_hash = %s WHERE id = %s",
        [forged, "ab" * 32, log[0].pk])  # fmt: skip
    assert f"checkpoint #{log[0].pk} (size 8)" in failure()
    assert [p.checkpoint for p in verify_log()] == [log[0].pk]


def test_a_checkpoint_with_a_forged_signature_is_named(log):
    signature = log[1].signature
    forged = ("A" if signature[0] != "A" else "B") + signature[1:]
    sql("UPDATE ledger_checkpoint SET signature = %s WHERE id = %s", [forged, log[1].pk])
    message = failure()
    assert f"checkpoint #{log[1].pk} (size 20)" in message and "signature" in message


def test_a_checkpoint_by_an_unknown_key_is_named(log):
    sql("DELETE FROM ledger_signingkey")
    message = failure()
    assert "not among the trusted keys" in message


def test_a_shrunken_log_head_leaves_entries_outside_the_log(log):
    sql("UPDATE ledger_loghead SET size = 18")
    message = failure()
    assert "entry 18 lies outside the log's 18 entries" in message
    assert {p.checkpoint for p in verify_log() if p.kind == "checkpoint"} == {log[1].pk}


def uncovered_body(text: str) -> None:
    """Entry 20, which no checkpoint covers, rewritten as `text` with its leaf node."""
    sql('UPDATE ledger_entry SET body = %s WHERE "index" = 20', [text])
    sql("UPDATE ledger_node SET hash = %s WHERE id = %s",
        [merkle.leaf_hash(text.encode()), Node.key(0, 20)])  # fmt: skip


def test_bodies_no_checkpoint_covers_yet_are_checked_for_canonical_json(log):
    append("result.signed", {"employee": "E1"}, "user:1:hr", {"n": 20})
    uncovered_body(body(20).replace(",", ", ", 1))
    message = failure()
    assert "entry 20" in message and "canonical" in message


def test_bodies_no_checkpoint_covers_yet_must_name_their_index(log):
    append("result.signed", {"employee": "E1"}, "user:1:hr", {"n": 20})
    uncovered_body(body(20).replace('"index":20', '"index":21'))
    assert "entry 20 was changed: its index column disagrees with its body" in failure()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (b'{"a":1,"b":[true,null,"x"]}', True),
        (b'{"b":1,"a":2}', False),
        (b'{"a": 1}', False),
        (b'{"a":1.5}', False),
        (b'{"a":"\\u00e9"}', False),
        ('{"a":"é"}'.encode(), True),
        (b"[1]", False),
        (b"{", False),
        ('{"\U0001d11e":1,"\ufb33":2}'.encode(), True),  # UTF-16 order: surrogates first
    ],
)
def test_canonical_json_is_recognised(text, canonical):
    assert is_canonical(text) is canonical
