"""Checkpoints are chained; `kaohe ledger verify` names the checkpoint where the chain, the
sizes, the times or the timestamps stop adding up. Old checkpoints without "previous" stay
valid before the chain begins."""

import datetime as dt
import hashlib
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from kaohe.ledger import checkpoints as checkpoints_module
from kaohe.ledger import tree
from kaohe.ledger.anchors import check_history
from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import as_document, checkpoint_problem, make_checkpoint
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, TimestampStatus
from kaohe.ledger.tests.tamper import drop_chain_guard, plant_checkpoint, sql
from kaohe.lib.checkpoint import GENESIS, checkpoint_hash
from kaohe.lib.tests.tsa import authority

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def grow(n: int) -> None:
    for i in range(n):
        append("result.signed", {"employee": f"E{i % 3}"}, "user:1:hr", {"i": i})


def checkpoints_at(*sizes: int) -> list[Checkpoint]:
    """Checkpoints at these sizes, a minute apart from START."""
    made = []
    for minute, size in enumerate(sizes):
        with time_machine.travel(START + dt.timedelta(minutes=minute), tick=False):
            grow(size - tree.size())
            made.append(make_checkpoint(force=True))
    return made


def problems() -> list[str]:
    return [str(p) for p in check_history(check_log()).problems]


def failure() -> str:
    with pytest.raises(CommandError) as raised:
        call_command("ledger", "verify")
    return str(raised.value)


def test_each_checkpoint_names_the_hash_of_the_one_before():
    first, second, third = checkpoints_at(4, 8, 8)
    assert json.loads(first.body)["previous"] == GENESIS
    assert json.loads(second.body)["previous"] == hashlib.sha256(first.body.encode()).hexdigest()
    assert json.loads(third.body)["previous"] == checkpoint_hash(as_document(second))
    assert [cp.previous for cp in (first, second, third)] == [
        json.loads(cp.body)["previous"] for cp in (first, second, third)
    ]
    assert problems() == []
    call_command("ledger", "verify")


def test_a_deleted_middle_checkpoint_breaks_the_chain():
    _, middle, last = checkpoints_at(4, 8, 12)
    sql("DELETE FROM ledger_checkpoint WHERE id = %s", [middle.pk])
    assert failure() == (
        f"the ledger does not verify: checkpoint #{last.pk} (size 12): the checkpoint it "
        f"follows (hash {checkpoint_hash(as_document(middle))[:16]}…) is "
        "not stored: a checkpoint was deleted or altered"
    )


def test_an_altered_middle_checkpoint_breaks_the_chain_too():
    _, middle, last = checkpoints_at(4, 8, 12)
    sql("UPDATE ledger_checkpoint SET body = replace(body, '\"tree_size\":8', '\"tree_size\":9') "
        "WHERE id = %s", [middle.pk])  # fmt: skip
    found = problems()
    assert any(f"checkpoint #{last.pk} (size 12): the checkpoint it follows" in p for p in found)


def test_checkpoints_from_before_the_chain_still_verify():
    grow(6)
    with time_machine.travel(START, tick=False):
        old = [plant_checkpoint(size, tree.root(size), START, previous=None) for size in (3, 6)]
    assert all("previous" not in json.loads(cp.body) for cp in old)
    assert all(checkpoint_problem(cp) is None for cp in old)
    with time_machine.travel(START + dt.timedelta(minutes=5), tick=False):
        grow(2)
        new = make_checkpoint()
    assert new.previous == hashlib.sha256(old[-1].body.encode()).hexdigest()
    assert problems() == []
    call_command("ledger", "verify")
    report = check_history(check_log())
    assert report.lines[0] == "checkpoint chain: 1 chained, 2 from before the chain"


def test_a_checkpoint_without_previous_after_the_chain_began_is_named():
    first, _ = checkpoints_at(4, 8)
    with time_machine.travel(START + dt.timedelta(minutes=5), tick=False):
        planted = plant_checkpoint(8, tree.root(8), START + dt.timedelta(minutes=5), None)
    assert problems() == [
        f"checkpoint #{planted.pk} (size 8): it names no previous checkpoint, yet it was made "
        f"after checkpoint #{first.pk}, the first that does: it was inserted or re-signed "
        "outside kaohe"
    ]


def test_a_restarted_chain_is_named():
    _first, second = checkpoints_at(4, 8)
    drop_chain_guard()
    planted = plant_checkpoint(8, tree.root(8), START + dt.timedelta(minutes=5), GENESIS)
    assert problems() == [
        f"checkpoint #{planted.pk} (size 8): it claims to be the log's first checkpoint, yet "
        f"checkpoint #{second.pk} was made before it: the chain was restarted"
    ]


def test_a_checkpoint_chained_to_an_older_one_is_named():
    first, _second = checkpoints_at(4, 8)
    drop_chain_guard()
    planted = plant_checkpoint(8, tree.root(8), START + dt.timedelta(minutes=5),
                               checkpoint_hash(as_document(first)))  # fmt: skip
    assert (
        f"checkpoint #{planted.pk} (size 8): it follows checkpoint #{first.pk} (size 4)"
        in problems()[0]
    )


def test_two_checkpoints_of_one_size_with_different_roots_are_named():
    _first, second = checkpoints_at(4, 8)
    forged = plant_checkpoint(8, bytes(32), START + dt.timedelta(minutes=5),
                              checkpoint_hash(as_document(second)))  # fmt: skip
    assert problems() == [
        f"checkpoint #{forged.pk} (size 8): checkpoint #{second.pk} signs the same size with "
        f"root {second.root_hash}, this one with {'00' * 32}: the log was rewritten between them"
    ]


def test_a_checkpoint_dated_before_a_smaller_one_is_named():
    _first, second = checkpoints_at(4, 8)
    grow(4)
    backdated = plant_checkpoint(12, tree.root(12), START - dt.timedelta(days=1),
                                 checkpoint_hash(as_document(second)))  # fmt: skip
    assert problems() == [
        f"checkpoint #{backdated.pk} (size 12): it is dated 2026-03-01T09:00:00Z, before "
        f"checkpoint #{second.pk} of the smaller size 8 (2026-03-02T09:01:00Z): a log only "
        "grows, so one of them was signed with a false time"
    ]


def test_a_timestamp_obtained_after_the_fact_is_named():
    (checkpoint,) = checkpoints_at(4)
    late = authority("Late").token(checkpoint.body.encode(), at=START + dt.timedelta(hours=3))
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        timestamp_status=TimestampStatus.STAMPED, timestamp_token=late
    )
    assert check_log().ok, "the token itself is sound"
    assert failure() == (
        f"the ledger does not verify: checkpoint #{checkpoint.pk} (size 4): its RFC 3161 "
        "timestamp (2026-03-02T12:00:00Z) is 3:00:00 after its own time (2026-03-02T09:00:00Z): "
        "it was obtained after the fact (kaohe stores none that late)"
    )


def test_a_timestamp_within_the_hour_is_fine_and_its_unchecked_root_is_said(capsys):
    (checkpoint,) = checkpoints_at(4)
    token = authority("Prompt").token(checkpoint.body.encode(), at=START + dt.timedelta(minutes=2))
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        timestamp_status=TimestampStatus.STAMPED, timestamp_token=token
    )
    call_command("ledger", "verify")
    assert (
        "  timestamps: 1 verified; their TSA certificates were not checked against a trust root "
        "(set KAOHE_TSA_ROOTS)"
    ) in capsys.readouterr().out


def test_two_checkpoints_cannot_follow_the_same_one():
    (first,) = checkpoints_at(4)
    with pytest.raises(IntegrityError), transaction.atomic():
        Checkpoint.objects.create(
            tree_size=4, root_hash=first.root_hash, created_at=START, key_id=first.key_id,
            previous=GENESIS, body="{}", signature="s",
        )  # fmt: skip


def test_a_checkpoint_made_meanwhile_by_another_process_is_chained_to(monkeypatch):
    (first,) = checkpoints_at(4)
    grow(2)
    # Another process chained to `first` after this one had read it as the last made.
    raced = plant_checkpoint(6, tree.root(6), START + dt.timedelta(minutes=1),
                             checkpoint_hash(as_document(first)))  # fmt: skip
    reads = []

    def stale_then_fresh():
        reads.append(1)
        return first if len(reads) == 1 else Checkpoint.objects.order_by("-pk").first()

    monkeypatch.setattr(checkpoints_module, "last_made", stale_then_fresh)
    with time_machine.travel(START + dt.timedelta(minutes=2), tick=False):
        made = make_checkpoint(force=True)
    assert len(reads) == 2, "the first attempt was refused and made again"
    assert made.previous == checkpoint_hash(as_document(raced))
    assert problems() == []
