"""Signed tree heads: made when the log grew, verifiable, kept across key rotations."""

import datetime as dt
import json

import pytest
import time_machine
from django.core.management import call_command

from kaohe.cli.schedule import JOBS
from kaohe.ledger import tree
from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import (
    as_document,
    checkpoint_problem,
    covering,
    latest_checkpoint,
    make_checkpoint,
)
from kaohe.ledger.keys import public_keys, rotate_key
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, LogHead, TimestampStatus
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib.checkpoint import GENESIS, signed_bytes, verify_checkpoint

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 2, 9, 0, 0, 500000, tzinfo=dt.UTC)


def grow(n: int = 1) -> None:
    for i in range(n):
        append("result.signed", {"employee": "E1", "document": f"D-{i}"}, "user:1:a", {"i": i})


@time_machine.travel(NOW, tick=False)
def test_a_checkpoint_signs_the_current_size_and_root():
    grow(5)
    checkpoint = make_checkpoint()
    document = as_document(checkpoint)
    assert document == {
        "log_id": LogHead.objects.get().log_id,
        "tree_size": 5,
        "root_hash": tree.root(5).hex(),
        "time": "2026-03-02T09:00:00Z",
        "key_id": checkpoint.key_id,
        "previous": GENESIS,
        "signature": checkpoint.signature,
    }
    assert checkpoint.body.encode() == signed_bytes(document)
    verify_checkpoint(document, public_keys())
    assert checkpoint_problem(checkpoint) is None
    assert checkpoint.timestamp_status == TimestampStatus.NONE


def test_nothing_is_signed_while_the_log_has_not_grown():
    assert make_checkpoint() is None, "an empty log"
    grow()
    first = make_checkpoint()
    assert make_checkpoint() is None
    grow()
    assert make_checkpoint().tree_size == 2
    assert make_checkpoint(force=True).tree_size == 2
    assert Checkpoint.objects.count() == 3
    assert first.tree_size == 1


def test_forcing_signs_even_the_empty_log():
    checkpoint = make_checkpoint(force=True)
    assert (checkpoint.tree_size, checkpoint.root_hash) == (0, tree.root(0).hex())


def test_the_proof_checkpoint_is_made_when_none_covers_the_entry():
    grow(2)
    old = make_checkpoint()
    grow()
    assert covering(0) == old
    assert covering(2).tree_size == 3
    assert latest_checkpoint().tree_size == 3


def test_checkpoints_signed_before_a_key_rotation_still_verify():
    grow()
    before = make_checkpoint()
    rotate_key()
    grow()
    after = make_checkpoint()
    assert before.key_id != after.key_id
    for checkpoint in (before, after):
        verify_checkpoint(as_document(checkpoint), public_keys())
        assert checkpoint_problem(checkpoint) is None
    assert check_log().checkpoints == 2


def test_the_checkpoint_task_signs_when_the_log_grew():
    grow(3)
    assert checkpoint_task.enqueue().return_value == 3
    assert checkpoint_task.enqueue().return_value is None


def test_the_scheduler_checkpoints_every_five_minutes():
    job = next(job for job in JOBS if job.name == "ledger_checkpoint")
    assert job.every == dt.timedelta(minutes=5)
    grow()
    job.enqueue()
    assert latest_checkpoint().tree_size == 1


def test_the_checkpoint_command_prints_the_signed_checkpoint(capsys):
    grow()
    call_command("ledger", "checkpoint")
    printed = json.loads(capsys.readouterr().out)
    verify_checkpoint(printed, public_keys())
    assert printed["tree_size"] == 1
    call_command("ledger", "checkpoint")
    captured = capsys.readouterr()
    assert json.loads(captured.out) == printed
    assert "has not grown" in captured.err
