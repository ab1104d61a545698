"""`kaohe ledger verify` trusts the key files, not the tables, and misses no checkpoint."""

import base64
import datetime as dt

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection

from kaohe.ledger.audit import verify_log
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, SigningKey
from kaohe.lib.checkpoint import key_id, public_key_raw, sign_checkpoint, signed_bytes

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def write_log(count: int = 6) -> None:
    for i in range(count):
        append("test.event", {"employee": f"E{i}"}, "system", {"n": i})
    make_checkpoint()


def test_a_checkpoint_re_signed_with_a_key_slipped_into_the_database_is_refused():
    write_log()
    rogue = Ed25519PrivateKey.generate()
    raw = public_key_raw(rogue)
    SigningKey.objects.create(
        key_id=key_id(raw), public_key=base64.b64encode(raw).decode(), created_at=START
    )
    genuine = Checkpoint.objects.get()
    log_id = genuine.body.split('"log_id":"')[1].split('"')[0]
    forged = sign_checkpoint(
        rogue, log_id, genuine.tree_size, bytes.fromhex(genuine.root_hash), START
    )
    # Inserting is what the PostgreSQL triggers still allow.
    planted = Checkpoint.objects.create(
        tree_size=genuine.tree_size, root_hash=genuine.root_hash, created_at=START,
        key_id=forged["key_id"], body=signed_bytes(forged).decode(),
        signature=forged["signature"],
    )  # fmt: skip
    problems = verify_log()
    assert [p.kind for p in problems if p.kind == "key"] == ["key"]
    assert any(p.checkpoint == planted.pk for p in problems)


def test_old_entries_that_no_checkpoint_covers_are_reported():
    with time_machine.travel(START, tick=False):
        write_log()
        append("test.event", {"employee": "E9"}, "system", {"n": 9})
    with time_machine.travel(START + dt.timedelta(minutes=5), tick=False):
        assert verify_log() == [], "recent entries may wait for the next checkpoint"
    with time_machine.travel(START + dt.timedelta(hours=2), tick=False):
        problems = verify_log()
    assert [(p.kind, p.index) for p in problems] == [("uncovered", 6)]


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL's triggers refuse the deletion itself"
)
def test_deleting_every_checkpoint_no_longer_hides_a_rewrite():
    with time_machine.travel(START, tick=False):
        write_log()
    Checkpoint.objects.all().delete()
    with time_machine.travel(START + dt.timedelta(hours=2), tick=False):
        problems = verify_log()
    assert [(p.kind, p.index) for p in problems] == [("uncovered", 0)]
