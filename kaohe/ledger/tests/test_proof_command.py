"""`kaohe ledger proof` and `consistency` write documents that `kaohe verify` accepts
offline, and that it rejects once altered."""

import copy
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.keys import public_keys, rotate_key
from kaohe.ledger.log import append
from kaohe.ledger.models import Checkpoint
from kaohe.lib.verify import key_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def log():
    for n in range(10):
        append("result.signed", {"employee": "E0042", "document": f"D-{n}"}, "user:1:hr",
               {"n": n, "note": "签字确认"})  # fmt: skip


def kaohe_verify(path, *args) -> subprocess.CompletedProcess:
    """The offline checker, as a court's expert runs it: no settings, no database."""
    return subprocess.run(
        [sys.executable, "-m", "kaohe", "verify", str(path), *args],
        capture_output=True, text=True, env={"LANG": "C.UTF-8"}, timeout=60,
    )  # fmt: skip


def write(path, document) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def test_a_proof_written_by_the_command_verifies_offline(log, tmp_path):
    path = tmp_path / "f.json"
    call_command("ledger", "proof", "3", "--output", str(path))
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["entry"]["index"] == 3
    assert document["proof"]["tree_size"] == 10, "a checkpoint was made to cover it"
    done = kaohe_verify(path, "--trust-embedded-keys")
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("OK")
    assert kaohe_verify(path).returncode == 1, "no trusted keys given"
    keys = tmp_path / "keys.json"
    write(keys, {"keys": [key_entry(raw) for raw in public_keys().values()]})
    assert kaohe_verify(path, "--keys", str(keys)).returncode == 0


ALTERATIONS = {
    "the entry's payload": lambda d: d["entry"]["payload"].update(n=4),
    "the entry's time": lambda d: d["entry"].update(at="2020-01-01T00:00:00.000Z"),
    "the leaf index": lambda d: d["proof"].update(leaf_index=4),
    "an audit path hash": lambda d: d["proof"]["audit_path"].__setitem__(0, "00" * 32),
    "the root": lambda d: d["proof"].update(root_hash="11" * 32),
    "the checkpoint's size": lambda d: d["proof"]["checkpoint"].update(tree_size=11),
    "the signature": lambda d: d["proof"]["checkpoint"].update(signature="A" * 88),
}


@pytest.mark.parametrize("what", ALTERATIONS)
def test_an_altered_proof_fails_with_a_clear_message(log, tmp_path, what):
    call_command("ledger", "proof", "3", "--output", str(tmp_path / "f.json"))
    document = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    altered = copy.deepcopy(document)
    ALTERATIONS[what](altered)
    write(tmp_path / "altered.json", altered)
    done = kaohe_verify(tmp_path / "altered.json", "--trust-embedded-keys")
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED: ") and "Traceback" not in done.stdout + done.stderr


def test_a_truncated_proof_fails_cleanly(log, tmp_path):
    call_command("ledger", "proof", "3", "--output", str(tmp_path / "f.json"))
    text = (tmp_path / "f.json").read_text(encoding="utf-8")
    (tmp_path / "cut.json").write_text(text[: len(text) // 2], encoding="utf-8")
    done = kaohe_verify(tmp_path / "cut.json", "--trust-embedded-keys")
    assert (done.returncode, done.stdout.startswith("FAILED")) == (1, True)


def test_a_proof_is_printed_when_no_file_is_given(log, capsys):
    make_checkpoint()
    call_command("ledger", "proof", "0")
    assert json.loads(capsys.readouterr().out)["entry"]["index"] == 0


@pytest.mark.parametrize(
    ("where", "reason"),
    [("missing/f.json", "No such file or directory"), (".", "Is a directory")],
)
def test_a_file_that_cannot_be_written_is_named_with_the_reason(log, tmp_path, where, reason):
    path = tmp_path / where
    with pytest.raises(CommandError) as raised:
        call_command("ledger", "proof", "3", "--output", str(path))
    assert str(raised.value) == f"cannot write {path}: {reason}"


def test_a_proof_of_an_entry_that_does_not_exist_is_refused(log):
    with pytest.raises(CommandError, match="no entry 10"):
        call_command("ledger", "proof", "10")


def test_a_consistency_proof_between_checkpoints_across_a_key_rotation_verifies(log, tmp_path):
    make_checkpoint()
    rotate_key()
    append("result.signed", {"employee": "E0042"}, "user:1:hr", {})
    make_checkpoint()
    path = tmp_path / "c.json"
    call_command("ledger", "consistency", "10", "11", "--output", str(path))
    done = kaohe_verify(path, "--trust-embedded-keys")
    assert done.returncode == 0, done.stdout
    document = json.loads(path.read_text(encoding="utf-8"))
    document["new"]["root_hash"] = "22" * 32
    write(path, document)
    assert kaohe_verify(path, "--trust-embedded-keys").returncode == 1


def test_a_consistency_proof_needs_checkpoints_of_both_sizes(log):
    make_checkpoint()
    with pytest.raises(CommandError, match="no checkpoint of tree size 5"):
        call_command("ledger", "consistency", "5", "10")
    assert Checkpoint.objects.count() == 1
