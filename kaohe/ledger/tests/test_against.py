"""`kaohe ledger verify --against FILE...`: what someone with the database and the signing key
can hide from the database's own recomputation, copies held outside still show."""

import datetime as dt
import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command

from kaohe.ledger import proofs
from kaohe.ledger.anchors import check_history
from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import as_document, make_checkpoint
from kaohe.ledger.keys import signing_key
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint, Entry
from kaohe.ledger.tests.conftest import SHARED_DB
from kaohe.ledger.tests.tamper import cut_tail, rewrite_entry, sql
from kaohe.lib.checkpoint import sign_checkpoint

pytestmark = pytest.mark.django_db
SIZE = 20


@pytest.fixture
def log() -> list[Checkpoint]:
    """20 entries with checkpoints at 8 and 20."""
    for n in range(SIZE):
        append("result.signed", {"employee": f"E{n % 3}", "document": f"D-{n}"},
               f"user:{n % 4}:hr", {"n": n})  # fmt: skip
        if n + 1 in (8, SIZE):
            make_checkpoint()
    return list(Checkpoint.objects.order_by("tree_size"))


@pytest.fixture
def held(log, tmp_path) -> dict[str, str]:
    """What left the database: an employee's receipt (entry 15 at size 20), a checkpoint an
    auditor saved (size 8) and a consistency proof between the two."""
    files = {
        "receipt": proofs.inclusion(15),
        "auditor": as_document(log[0]) | {"timestamp": None},  # as the API serves it
        "consistency": proofs.consistency(log[0], log[1]),
    }
    paths = {}
    for name, document in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths[name] = str(path)
    return paths


def verify(*files: str) -> str:
    with pytest.raises(CommandError) as raised:
        call_command("ledger", "verify", "--against", *files)
    return str(raised.value).removeprefix("the ledger does not verify: ")


def test_receipts_that_match_the_log_pass(log, held, capsys):
    call_command("ledger", "verify", "--against", *held.values())
    out = capsys.readouterr().out
    when = json.loads(log[1].body)["time"]
    assert f"  {held['receipt']}: checkpoint 20 signed at {when} matches the log\n" in out
    assert f"  {held['auditor']}: checkpoint 8 signed at" in out
    assert out.count(f"  {held['consistency']}: checkpoint") == 2


def test_a_cut_tail_with_a_re_signed_checkpoint_is_caught_by_a_saved_receipt(log, held):
    cut_tail(12)
    sql("DELETE FROM ledger_checkpoint WHERE id = %s", [log[1].pk])
    make_checkpoint()  # re-signed at 12, chained to the checkpoint of 8 as if nothing happened
    call_command("ledger", "verify")  # the database agrees with itself
    when = json.loads(log[1].body)["time"]
    assert verify(held["auditor"], held["receipt"]) == (
        f"{held['receipt']}: the log has 12 entries but a receipt signed at {when} covers 20: "
        "entries were removed"
    )


def test_a_rewritten_entry_with_re_signed_checkpoints_is_caught_by_a_saved_receipt(log, held):
    forged = Entry.objects.get(index=5).body.replace('"n":5', '"n":500')
    rewrite_entry(5, forged)
    sql("DELETE FROM ledger_checkpoint")
    make_checkpoint(force=True)  # a fresh chain over the rewritten log
    call_command("ledger", "verify")  # the database agrees with itself
    message = verify(held["receipt"])
    when = json.loads(log[1].body)["time"]
    assert message.startswith(
        f"{held['receipt']}: the root at size 20 differs from the receipt's (signed at {when}): "
        f"history was rewritten (the log gives "
    )
    assert verify(held["auditor"]).startswith(
        f"{held['auditor']}: the root at size 8 differs from the receipt's"
    )


def test_a_receipt_whose_checkpoint_was_deleted_is_named(log, held):
    sql("DELETE FROM ledger_checkpoint WHERE id = %s", [log[0].pk])
    with pytest.raises(CommandError):
        call_command("ledger", "verify", "--against", held["auditor"])
    messages = [str(p) for p in check_history(check_log(), [held["auditor"]]).problems]
    when = json.loads(log[0].body)["time"]
    assert (
        f"{held['auditor']}: the receipt's checkpoint of size 8 signed at {when} is not among "
        "the stored checkpoints: it was deleted"
    ) in messages
    assert any(m.startswith(f"checkpoint #{log[1].pk} (size 20): the checkpoint it follows")
               for m in messages)  # fmt: skip


def test_a_receipt_signed_by_a_key_that_is_no_key_file_is_refused(log, tmp_path):
    rogue = Ed25519PrivateKey.generate()
    document = json.loads(log[1].body)
    forged = sign_checkpoint(rogue, document["log_id"], 20, bytes(32), dt.datetime.now(dt.UTC))
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    assert verify(str(path)) == (
        f"{path}: checkpoint of size 20 is signed by key {forged['key_id']}, which is not "
        f"among the trusted keys: {log[1].key_id}"
    )


def test_a_receipt_of_another_log_is_refused(log, tmp_path):
    private, _ = signing_key()
    other = sign_checkpoint(private, "another-log", 8, bytes(32), dt.datetime.now(dt.UTC))
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    log_id = json.loads(log[0].body)["log_id"]
    assert verify(str(path)) == (
        f"{path}: the receipt is of log another-log, the database holds log {log_id}"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"PK\x03\x04", "is not valid JSON"),
        (b'{"format": "kaohe-proof/v9"}', "unknown format 'kaohe-proof/v9'"),
    ],
)
def test_an_unreadable_receipt_fails_in_one_line(log, tmp_path, content, message):
    path = tmp_path / "receipt.json"
    if content is not None:
        path.write_bytes(content)
    found = verify(str(path))
    assert found.startswith(f"{path}: ") and message in found and "\n" not in found


@SHARED_DB
def test_the_command_fails_with_a_clear_message_and_no_traceback(shared_database, tmp_path):
    def kaohe(*args):
        return subprocess.run(
            [sys.executable, "-m", "kaohe", *args], capture_output=True, text=True,
            env=shared_database, timeout=120,
        )  # fmt: skip

    made = kaohe("ledger", "checkpoint", "--force")
    assert made.returncode == 0, made.stderr
    log_id = json.loads(made.stdout)["log_id"]
    key = serialization.load_pem_private_key(settings.LEDGER_KEY_FILE.read_bytes(), password=None)
    receipt = sign_checkpoint(key, log_id, 5, bytes(32), dt.datetime.now(dt.UTC))
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    result = kaohe("ledger", "verify", "--against", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"FAILED: {path}: the log has 0 entries but a receipt signed at " in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"CommandError: the ledger does not verify: {path}: the log has 0 entries")
    )
