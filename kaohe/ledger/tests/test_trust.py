"""`kaohe ledger verify` trusts the key files, not the tables, and misses no checkpoint."""

import base64
import datetime as dt

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection

from kaohe.ledger import proofs
from kaohe.ledger.audit import verify_log
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.keys import public_keys, rotate_key
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, SigningKey
from kaohe.ledger.tests.tamper import sql
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


def plant_rogue_key() -> str:
    """A key registered in the database alone (INSERT is what the triggers allow)."""
    raw = public_key_raw(Ed25519PrivateKey.generate())
    SigningKey.objects.create(
        key_id=key_id(raw), public_key=base64.b64encode(raw).decode(), created_at=START
    )
    return key_id(raw)


def test_a_key_slipped_into_the_database_is_neither_published_nor_put_into_proofs(client):
    write_log()
    rogue = plant_rogue_key()
    genuine = Checkpoint.objects.get().key_id
    published = [k["key_id"] for k in client.get("/api/v1/ledger/keys").json()["keys"]]
    assert published == [genuine]
    in_proof = [k["key_id"] for k in proofs.inclusion(0)["public_keys"]]
    assert in_proof == [genuine]
    assert rogue not in public_keys()


def test_retired_keys_stay_published_while_their_files_are_kept(client):
    write_log()
    old = Checkpoint.objects.get().key_id
    new = rotate_key().key_id
    published = [k["key_id"] for k in client.get("/api/v1/ledger/keys").json()["keys"]]
    assert published == [old, new]


def test_a_damaged_key_file_is_named_and_nothing_fails_with_a_traceback(settings, client):
    write_log()
    old = Checkpoint.objects.get().key_id
    rotate_key()
    retired = settings.LEDGER_KEY_FILE.parent / "retired" / f"{old}.pem"
    retired.write_bytes(retired.read_bytes()[:40])
    problems = [str(p) for p in verify_log()]
    damaged = f"key file {retired} is not an unencrypted PEM private key (damaged or replaced)"
    assert damaged in problems
    assert any("signed by it are not trusted" in p for p in problems), problems
    assert client.get("/api/v1/ledger/keys").status_code == 200
    settings.LEDGER_KEY_FILE.write_text("not a key")
    with pytest.raises(CommandError, match=f"key file {settings.LEDGER_KEY_FILE} is not"):
        call_command("ledger", "checkpoint", "--force")


def test_a_changed_log_id_in_the_head_is_named():
    write_log()
    sql("UPDATE ledger_loghead SET log_id = %s", ["f" * 32])
    append("test.event", {"employee": "E9"}, "system", {"n": 9})
    make_checkpoint()
    problems = [str(p) for p in verify_log()]
    assert len(problems) == 1, problems
    assert f"but the log head says {'f' * 32}" in problems[0]
    assert problems[0].startswith("1 checkpoint(s), from #")
