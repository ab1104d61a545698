"""Appending: numbering, content, and the caller's transaction."""

import datetime as dt
import json

import pytest
import time_machine
from django.db import connection, transaction
from django.test import RequestFactory

from kaohe.ledger.body import assemble, prepare
from kaohe.ledger.log import EntryError, append
from kaohe.ledger.models import Entry, LogHead, Node
from kaohe.ledger.tests import tamper
from kaohe.lib import merkle
from kaohe.lib.canonical import canonical

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=dt.UTC)


def signed(n: int = 0) -> Entry:
    return append("result.signed", {"employee": "E0042", "document": f"D-{n}"}, "user:7:amy",
                  {"doc_sha256": "ab" * 32, "n": n})  # fmt: skip


def test_entries_are_numbered_from_zero_without_gaps():
    assert [signed(n).index for n in range(5)] == [0, 1, 2, 3, 4]
    assert LogHead.objects.get().size == 5
    assert list(Entry.objects.values_list("index", flat=True)) == [0, 1, 2, 3, 4]


@time_machine.travel(NOW, tick=False)
def test_the_body_is_canonical_json_of_what_happened_and_the_columns_repeat_it():
    entry = signed()
    body = json.loads(entry.body)
    assert entry.body.encode() == canonical(body)
    assert body == {
        "v": 1,
        "log_id": LogHead.objects.get().log_id,
        "index": 0,
        "kind": "result.signed",
        "subject": {"employee": "E0042", "document": "D-0"},
        "actor": "user:7:amy",
        "at": "2026-03-02T09:00:00.123Z",
        "payload": {"doc_sha256": "ab" * 32, "n": 0},
    }
    entry.refresh_from_db()
    assert (entry.kind, entry.employee_no, entry.actor) == ("result.signed", "E0042", "user:7:amy")
    assert entry.subject == '{"document":"D-0","employee":"E0042"}'
    assert entry.at == dt.datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=dt.UTC)
    assert bytes(entry.leaf_hash) == merkle.leaf_hash(entry.body.encode())


def test_a_request_adds_the_callers_ip_and_user_agent(settings):
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Phone/1.0")
    entry = append("result.viewed", {"employee": "E1"}, "user:1:a", {}, request=request)
    assert json.loads(entry.body)["request"] == {"ip": "203.0.113.7", "user_agent": "Phone/1.0"}


def test_a_subject_without_an_employee_leaves_the_employee_column_empty():
    entry = append("key.rotated", {"key": "abc"}, "system", {})
    assert entry.employee_no == ""
    assert "request" not in json.loads(entry.body)


def test_every_perfect_subtree_is_stored_as_it_completes():
    builder = merkle.TreeBuilder()
    expected = {}
    for n in range(11):
        entry = signed(n)
        for (level, index), h in builder.append(merkle.leaf_hash(entry.body.encode())):
            expected[Node.key(level, index)] = h
    stored = {pk: bytes(h) for pk, h in Node.objects.values_list("id", "hash")}
    assert stored == expected


def test_the_entry_is_rolled_back_with_the_callers_transaction_and_leaves_no_gap():
    signed(0)
    with pytest.raises(RuntimeError), transaction.atomic():
        signed(1)
        raise RuntimeError("the business change failed")
    assert signed(2).index == 1
    assert LogHead.objects.get().size == 2
    assert Node.objects.filter(id=Node.key(1, 0)).count() == 1


@pytest.mark.parametrize(
    ("kind", "subject", "actor", "payload"),
    [
        ("", {}, "a", {}),
        ("k" * 65, {}, "a", {}),
        ("k", {"employee": 42}, "a", {}),
        ("k", {}, "", {}),
        ("k", {}, "a", {"score": 87.5}),
        ("k", {}, "a", []),
        ("k", {"employee": "E" * 33}, "a", {}),
    ],
)
def test_bad_input_is_refused_before_the_log_is_touched(kind, subject, actor, payload):
    with transaction.atomic():
        with pytest.raises(EntryError):
            append(kind, subject, actor, payload)
        assert signed().index == 0, "the caller's transaction is still usable"


@pytest.mark.parametrize(
    ("subject", "actor", "payload", "request_part"),
    [
        ({"employee": "E1"}, "user:1:a", {}, None),
        ({"employee": "张三", "document": "合同-1"}, "user:2:王五",
         {"note": "签字\n确认", "z": [1, None, True]},
         {"ip": None, "user_agent": "Mozilla \"x\" \\ \u0001"}),
        ({}, "system", {"€": "𝄞", "a": {"b": {"c": "\ud7ff"}}, "": ""},
         {"ip": "::1", "user_agent": ""}),
    ],
)  # fmt: skip
def test_assembled_bodies_equal_the_canonical_json_of_the_whole_document(
    subject, actor, payload, request_part
):
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
    parts = prepare("kind.x", subject, actor, payload, request_part)
    document = {"v": 1, "log_id": "ab" * 16, "index": 12345, "kind": "kind.x", "subject": subject,
                "actor": actor, "at": "2026-01-02T03:04:05.006Z", "payload": payload}  # fmt: skip
    if request_part is not None:
        document["request"] = request_part
    assert assemble("ab" * 16, 12345, at, parts) == canonical(document)


def test_every_append_costs_the_same_queries(django_assert_num_queries):
    """Query-count tests of actions must not depend on the log's size: the head exists from
    the migrations, and the left siblings are read (on SQLite) even when there are none. On
    PostgreSQL an append is one call of `ledger_append`."""
    for n in range(9):
        with django_assert_num_queries(4 if connection.vendor == "sqlite" else 1):
            signed(n)


def test_an_append_over_a_missing_tree_node_is_refused_and_names_the_node():
    for n in range(3):
        signed(n)
    tamper.sql("DELETE FROM ledger_node WHERE id = %s", [Node.key(0, 2)])
    missing = pytest.raises(LookupError, match=r"ledger node \(0, 2\) is missing")
    with missing, transaction.atomic():
        signed(3)
    assert LogHead.objects.get().size == 3


def test_a_time_is_never_earlier_than_the_previous_entrys():
    """On PostgreSQL the time is taken before the log is locked; an appender that took its
    time later but got the log first must not leave a later entry with an earlier time."""
    with time_machine.travel(NOW, tick=False):
        first = signed(0)
    with time_machine.travel(NOW - dt.timedelta(seconds=5), tick=False):
        second = signed(1)
    stored = Entry.objects.get(index=1)
    if connection.vendor == "postgresql":
        assert second.at == stored.at == first.at
        assert json.loads(second.body)["at"] == "2026-03-02T09:00:00.123Z"
    else:  # taken under SQLite's write lock: the clock's time, whatever it says
        assert second.at == stored.at == NOW.replace(microsecond=123000) - dt.timedelta(seconds=5)
    assert merkle.leaf_hash(stored.body.encode()) == bytes(Node.objects.get(id=1).hash)


@pytest.mark.parametrize("payload", [{"note": "a\x00b"}, {"list": ["ok", "\x00"]}])
def test_a_nul_character_is_refused_on_every_database(payload):
    """PostgreSQL's json cannot turn \\u0000 into text, so it is refused everywhere."""
    with pytest.raises(EntryError, match="U\\+0000"):
        append("k.nul", {"employee": "E1"}, "system", payload)
    assert LogHead.objects.get().size == 0
    # An escaped backslash before "u0000" is not the character.
    entry = append("k.nul", {"employee": "E1"}, "system", {"note": "\\u0000"})
    assert json.loads(Entry.objects.get(index=entry.index).body)["payload"]["note"] == "\\u0000"


@time_machine.travel(NOW, tick=False)
def test_the_returned_entry_is_the_stored_one_whatever_the_sessions_time_zone():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'Asia/Shanghai'")
    entry = signed()
    stored = Entry.objects.get(index=entry.index)
    assert entry.body == stored.body
    assert json.loads(entry.body)["at"] == "2026-03-02T09:00:00.123Z"
    assert entry.at == NOW.replace(microsecond=123000)
