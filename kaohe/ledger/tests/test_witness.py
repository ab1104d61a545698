"""The signer keeps a copy of the latest checkpoint it made beside its key; `kaohe ledger
verify` holds the log to it, so deleting the newest checkpoints and letting the scheduler
sign a rewritten or cut log no longer passes."""

import datetime as dt
import json
import logging

import pytest
import time_machine
from django.core.management import CommandError, call_command

from kaohe.ledger import tree, witness
from kaohe.ledger.anchors import check_history
from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import as_document, make_checkpoint
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, Entry
from kaohe.ledger.tests.tamper import cut_tail, rewrite_entry, sql

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def sign(django_capture_on_commit_callbacks):
    """sign(at) -> the checkpoint the scheduler makes at `at`, its after-commit work done."""

    def signed(at: dt.datetime) -> Checkpoint | None:
        with (
            time_machine.travel(at, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return make_checkpoint()

    return signed


def grow(n: int, score: str = "60") -> None:
    for _ in range(n):
        append("result.signed", {"employee": "E7"}, "user:1:hr", {"score": score})


def newest_deleted(sign) -> Checkpoint:
    """Checkpoints at 6 entries and, an hour later, at 10; the second is deleted (returned)."""
    grow(6)
    sign(START)
    grow(4)
    deleted = sign(START + dt.timedelta(hours=1))
    sql("DELETE FROM ledger_checkpoint WHERE id = %s", [deleted.pk])
    return deleted


def problems() -> list[str]:
    return [str(p) for p in check_history(check_log()).problems]


def kept() -> dict:
    return json.loads(witness.path().read_text())


def test_the_copy_follows_each_checkpoint_and_a_whole_log_verifies(sign):
    grow(6)
    first = sign(START)
    assert kept() == as_document(first)
    grow(4)
    second = sign(START + dt.timedelta(minutes=5))
    assert kept() == as_document(second)
    assert problems() == []
    call_command("ledger", "verify")


def test_deleting_the_newest_checkpoint_and_rewriting_what_it_covered_is_named(sign):
    deleted = newest_deleted(sign)
    body = Entry.objects.get(index=8).body
    rewrite_entry(8, body.replace('"score":"60"', '"score":"95"'))
    resigned = sign(START + dt.timedelta(days=3))  # the scheduler: the log "grew"
    assert resigned.tree_size == 10, "the altered log was signed, chained to the one left"
    assert kept()["tree_size"] == deleted.tree_size, "the copy did not move on"
    found = problems()
    assert len(found) == 1, found
    assert "the latest checkpoint signed here" in found[0]
    assert "root at size 10 differs" in found[0]
    assert str(witness.path()) in found[0], "it names the file to move aside after a restore"
    with pytest.raises(CommandError, match="history was rewritten"):
        call_command("ledger", "verify")


def test_deleting_the_newest_checkpoint_and_cutting_the_entries_it_covered_is_named(sign):
    newest_deleted(sign)
    cut_tail(8)
    grow(1, score="70")
    sign(START + dt.timedelta(days=3))
    found = problems()
    assert len(found) == 1, found
    assert "the log has 9 entries but a receipt signed at" in found[0]
    assert "covers 10: entries were removed" in found[0]


def test_deleting_only_the_newest_checkpoint_is_named(sign):
    newest_deleted(sign)
    found = problems()
    assert len(found) == 1, found
    assert "is not among the stored checkpoints: it was deleted" in found[0]


def test_a_database_of_another_log_is_named_and_the_copy_stays(sign, caplog):
    grow(3)
    sign(START)
    before = kept()
    sql("UPDATE ledger_loghead SET log_id = %s", ["f" * 32])
    sql("DELETE FROM ledger_checkpoint")
    with caplog.at_level(logging.ERROR, logger="kaohe.ledger.witness"):
        sign(START + dt.timedelta(minutes=5))
    assert kept() == before
    assert "the one kept is of log" in caplog.text
    found = problems()
    assert len(found) == 1, found
    assert f"the database holds log {'f' * 32}" in found[0]
    assert "move" in found[0] and "aside" in found[0]


def test_no_copy_yet_is_no_problem_and_said_and_an_unreadable_one_is_named(sign):
    grow(3)
    with time_machine.travel(START, tick=False):
        make_checkpoint()  # its transaction never commits here: no copy
    assert not witness.path().exists()
    history = check_history(check_log())
    assert history.problems == []
    assert f"no copy of a checkpoint signed here is kept yet ({witness.path()})" in history.lines
    witness.path().write_text("{not json")
    assert problems() == [
        f"the latest checkpoint signed here ({witness.path()}) cannot be used: the file is "
        "not valid JSON (line 1, column 2: Expecting property name enclosed in double "
        "quotes); is it complete?"
    ]


def test_a_checkpoint_signed_while_verify_runs_is_no_false_alarm(sign):
    grow(5)
    sign(START)
    report = check_log()
    grow(3)
    sign(START + dt.timedelta(minutes=5))  # the copy now covers 8; the report saw 5
    history = check_history(report)
    assert history.problems == []
    assert any("the latest checkpoint signed here" in line and "matches the log" in line
               for line in history.lines)  # fmt: skip


def test_a_later_checkpoint_kept_first_stays_without_an_error(sign, caplog):
    grow(3)
    earlier = sign(START)
    grow(2)
    later = sign(START + dt.timedelta(minutes=5))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="kaohe.ledger.witness"):
        witness.remember(earlier)  # its signer's after-commit step came last
    assert kept() == as_document(later)
    assert [r for r in caplog.records if r.name == "kaohe.ledger.witness"] == []


def test_a_copy_at_the_same_size_is_left_as_it_is(sign):
    grow(3)
    first = sign(START)
    with time_machine.travel(START + dt.timedelta(minutes=5), tick=False):
        with_force = make_checkpoint(force=True)
    witness.remember(with_force)
    assert kept() == as_document(first)
    assert tree.size() == first.tree_size
