"""`kaohe verify` offline, beyond one proof: bare checkpoints, RFC 3161 timestamps inside
checkpoints, and new documents held against receipts handed out earlier."""

import base64
import copy
import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kaohe.lib.checkpoint import GENESIS, key_id, public_key_raw, sign_checkpoint, signed_bytes
from kaohe.lib.merkle import consistency_plan, resolve
from kaohe.lib.tests.test_verify import LOG, SIZE, WHEN, Log, body, keys_file, run_kaohe, write
from kaohe.lib.tests.tsa import authority, with_altered_signature, with_altered_time
from kaohe.lib.verify import consistency_document, main, verify_document

LATER = dt.datetime(2026, 1, 16, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def signer():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def history():
    return Log([body(i) for i in range(SIZE)])


@pytest.fixture(scope="module")
def tsa():
    return authority("Test")


@pytest.fixture
def keys(tmp_path, signer):
    return keys_file(tmp_path, signer)


def consistency(log, signer, m, n, old=None):
    proof = resolve(consistency_plan(m, n), log.lookup)
    old = old or log.checkpoint(signer, m)
    return consistency_document(old, log.checkpoint(signer, n), proof, [public_key_raw(signer)])


def run(capsys, *args):
    code = main([str(arg) for arg in args])
    return code, capsys.readouterr().out


# -- a bare checkpoint --


def test_a_bare_checkpoint_as_the_api_serves_it_verifies(tmp_path, history, signer, keys, capsys):
    checkpoint = history.checkpoint(signer, SIZE) | {"timestamp": None}
    code, out = run(capsys, write(tmp_path, "latest.json", checkpoint), "--keys", keys)
    assert code == 0, out
    assert f"checkpoint of log {LOG} at tree size {SIZE}" in out


def test_a_chained_bare_checkpoint_verifies(tmp_path, history, signer, keys, capsys):
    checkpoint = sign_checkpoint(signer, LOG, 3, history.roots[2], LATER, previous=GENESIS)
    code, out = run(capsys, write(tmp_path, "latest.json", checkpoint), "--keys", keys)
    assert code == 0, out


def test_an_old_checkpoint_served_with_previous_null_verifies(
    tmp_path, history, signer, keys, capsys
):
    checkpoint = history.checkpoint(signer, SIZE) | {"previous": None, "timestamp": None}
    code, out = run(capsys, write(tmp_path, "latest.json", checkpoint), "--keys", keys)
    assert code == 0, out


def test_a_bare_checkpoint_carries_no_keys_to_trust(tmp_path, history, signer, capsys):
    path = write(tmp_path, "latest.json", history.checkpoint(signer, SIZE))
    code, out = run(capsys, path, "--trust-embedded-keys")
    assert (code, out) == (1, "FAILED: a bare checkpoint carries no public keys: pass --keys "
                              "KEYSFILE (/api/v1/ledger/keys)\n")  # fmt: skip


def test_a_bare_checkpoint_by_another_key_fails(tmp_path, history, keys, capsys):
    forged = history.checkpoint(Ed25519PrivateKey.generate(), SIZE)
    code, out = run(capsys, write(tmp_path, "latest.json", forged), "--keys", keys)
    assert code == 1 and "not among the trusted keys" in out


# -- RFC 3161 timestamps inside checkpoints --


def stamped_proof(history, signer, tsa, token=None):
    doc = history.proof(signer, 6, SIZE)
    checkpoint = doc["proof"]["checkpoint"]
    token = token or tsa.token(signed_bytes(checkpoint))
    checkpoint["timestamp"] = base64.b64encode(token).decode()
    return doc


def test_a_timestamp_signature_is_checked_and_the_missing_root_said(
    tmp_path, history, signer, tsa, keys, capsys
):
    doc = stamped_proof(history, signer, tsa)
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys)
    assert code == 0, out
    assert "checkpoint 13: RFC 3161 timestamp " in out
    assert "by Common Name: Test TSA, signature valid" in out
    assert (
        "checkpoint 13: the TSA certificate was not checked against a trust root "
        "(pass --tsa-roots PEM to check it)"
    ) in out


def test_a_timestamp_chains_to_the_roots_given(tmp_path, history, signer, tsa, keys, capsys):
    doc = stamped_proof(history, signer, tsa)
    roots = write(tmp_path, "roots.pem", tsa.ca_pem)
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys, "--tsa-roots", roots)
    assert code == 0, out
    assert "checkpoint 13: the TSA certificate chains to a trust root given" in out


@pytest.mark.parametrize(
    ("alter", "message"),
    [
        (with_altered_time, "checkpoint 13: the timestamp token was altered: its TSTInfo is "
                            "not what the authority signed"),
        (with_altered_signature, "checkpoint 13: the timestamp token's signature does not "
                                 "verify with the certificate it carries"),
        (lambda token: token[:-40], "checkpoint 13: the timestamp token cannot be read"),
    ],
)  # fmt: skip
def test_an_altered_timestamp_fails(tmp_path, history, signer, tsa, keys, capsys, alter, message):
    checkpoint = history.proof(signer, 6, SIZE)["proof"]["checkpoint"]
    token = alter(tsa.token(signed_bytes(checkpoint)))
    doc = stamped_proof(history, signer, tsa, token)
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys)
    assert code == 1
    assert out.startswith(f"FAILED: {message}")
    assert len(out.splitlines()) == 1


def test_a_timestamp_over_another_checkpoint_fails(tmp_path, history, signer, tsa, keys, capsys):
    doc = stamped_proof(history, signer, tsa, tsa.token(b"another checkpoint"))
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys)
    assert (code, out) == (1, "FAILED: checkpoint 13: the timestamp token covers other data "
                              "than this checkpoint\n")  # fmt: skip


def test_a_timestamp_of_an_authority_under_another_root_fails(
    tmp_path, history, signer, tsa, keys, capsys
):
    doc = stamped_proof(history, signer, tsa)
    roots = write(tmp_path, "roots.pem", authority("Other").ca_pem)
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys, "--tsa-roots", roots)
    assert (code, out) == (1, "FAILED: checkpoint 13: the timestamping authority's certificate "
                              "(Common Name: Test TSA) does not chain to any of the given trust "
                              "roots\n")  # fmt: skip


def test_a_timestamp_that_is_not_base64_fails(tmp_path, history, signer, tsa, keys, capsys):
    doc = stamped_proof(history, signer, tsa)
    doc["proof"]["checkpoint"]["timestamp"] = "not base64!"
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys)
    assert (code, out) == (1, "FAILED: checkpoint 13: its RFC 3161 timestamp is not base64\n")


def test_a_bad_roots_file_fails(tmp_path, history, signer, tsa, keys, capsys):
    doc = stamped_proof(history, signer, tsa)
    roots = write(tmp_path, "roots.pem", b"hello")
    code, out = run(capsys, write(tmp_path, "p.json", doc), "--keys", keys, "--tsa-roots", roots)
    assert code == 1 and out.startswith(f"FAILED: {roots} does not hold X.509 certificates")


def test_a_late_timestamp_is_noted(history, signer, tsa):
    checkpoint = history.checkpoint(signer, SIZE)
    token = tsa.token(signed_bytes(checkpoint), at=dt.datetime(2026, 1, 15, 5, 0, tzinfo=dt.UTC))
    doc = {**checkpoint, "timestamp": base64.b64encode(token).decode()}
    raw = public_key_raw(signer)
    lines = verify_document(doc, {key_id(raw): raw})
    assert "checkpoint 13: note: stamped 3:00:00 after it was signed" in "\n".join(lines)


def test_a_bad_timestamp_fails_the_command_in_one_line_without_a_traceback(
    tmp_path, history, signer, tsa, keys
):
    good = write(tmp_path, "good.json", stamped_proof(history, signer, tsa))
    result = run_kaohe(good, "--keys", keys)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    checkpoint = history.proof(signer, 6, SIZE)["proof"]["checkpoint"]
    bad = stamped_proof(history, signer, tsa, with_altered_signature(
        tsa.token(signed_bytes(checkpoint))))  # fmt: skip
    roots = write(tmp_path, "other.pem", authority("Other").ca_pem)
    for args in [(write(tmp_path, "bad.json", bad), "--keys", keys),
                 (good, "--keys", keys, "--tsa-roots", roots)]:  # fmt: skip
        result = run_kaohe(*args)
        assert result.returncode == 1
        assert result.stderr == ""
        assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith("FAILED: ")


# -- against receipts handed out earlier --


def test_a_new_proof_with_the_consistency_proof_verifies_against_the_receipt(
    tmp_path, history, signer, keys, capsys
):
    receipt = write(tmp_path, "receipt.json", history.proof(signer, 2, 5))
    new = write(tmp_path, "new.json", history.proof(signer, 6, SIZE))
    link = write(tmp_path, "link.json", consistency(history, signer, 5, SIZE))
    code, out = run(capsys, new, link, "--keys", keys, "--against", receipt)
    assert code == 0, out
    assert f"  {new}:\n" in out and f"  {link}:\n" in out and f"  {receipt}:\n" in out
    assert (
        f"{receipt}: checkpoint 5 (2026-01-15T02:00:00Z) and {new}'s checkpoint 13 are "
        f"consistent: the consistency proof in {link} puts both in the tree of size 13"
    ) in out


def test_proofs_to_one_newer_checkpoint_link_the_checkpoints_before_it(
    tmp_path, history, signer, keys, capsys
):
    receipt = write(tmp_path, "receipt.json", history.checkpoint(signer, 8))
    new = write(tmp_path, "new.json", history.proof(signer, 6, SIZE))
    from_5 = write(tmp_path, "from-5.json", consistency(history, signer, 5, SIZE))
    from_8 = write(tmp_path, "from-8.json", consistency(history, signer, 8, SIZE))
    code, out = run(capsys, new, from_5, from_8, "--keys", keys, "--against", receipt)
    assert code == 0, out
    assert (
        f"{receipt}: checkpoint 8 (2026-01-15T02:00:00Z) and {from_5}'s checkpoint 5 are "
        f"consistent: the consistency proof in {from_5} and {from_8} puts both in the tree of "
        "size 13"
    ) in out


def test_without_the_consistency_proof_the_command_says_how_to_get_it(
    tmp_path, history, signer, keys, capsys
):
    receipt = write(tmp_path, "receipt.json", history.proof(signer, 2, 5))
    new = write(tmp_path, "new.json", history.proof(signer, 6, SIZE))
    code, out = run(capsys, new, "--keys", keys, "--against", receipt)
    assert (code, out) == (1, (
        f"FAILED: nothing shows that {new}'s checkpoint 13 is consistent with {receipt}'s "
        "checkpoint 5: add the consistency proof between them as one more FILE (`kaohe ledger "
        "consistency 5 13`, or /api/v1/ledger/consistency?old=5&new=13)\n"))  # fmt: skip


def test_a_receipt_of_the_same_tree_signed_again_needs_no_consistency_proof(
    tmp_path, history, signer, keys, capsys
):
    again = sign_checkpoint(signer, LOG, SIZE, history.roots[-1], LATER)
    receipt = write(tmp_path, "receipt.json", history.checkpoint(signer, SIZE))
    code, out = run(capsys, write(tmp_path, "again.json", again), "--keys", keys,
                    "--against", receipt)  # fmt: skip
    assert code == 0, out
    assert f"{receipt}: checkpoint 13 (2026-01-15T02:00:00Z) is the tree" in out


def test_a_consistency_proof_from_a_rewritten_log_fails_against_the_receipt(
    tmp_path, history, signer, keys, capsys
):
    receipt = write(tmp_path, "receipt.json", history.proof(signer, 2, 5))
    rewritten = Log([*history.bodies[:3], body(3, actor="hr:someone else"), *history.bodies[4:]])
    new = write(tmp_path, "new.json", rewritten.proof(signer, 6, SIZE))
    link = write(tmp_path, "link.json", consistency(rewritten, signer, 5, SIZE))
    code, out = run(capsys, new, link, "--keys", keys, "--against", receipt)
    assert (code, out) == (1, (
        f"FAILED: {receipt} and {link} both sign tree size 5 but with different roots: the log "
        "was rewritten after the receipt was handed out\n"))  # fmt: skip


def test_a_consistency_proof_that_starts_from_the_receipt_but_was_forged_fails(
    tmp_path, history, signer, keys, capsys
):
    rewritten = Log([*history.bodies[:3], body(3, actor="hr:someone else"), *history.bodies[4:]])
    receipt_checkpoint = history.checkpoint(signer, 5)
    link = consistency(rewritten, signer, 5, SIZE, old=receipt_checkpoint)
    receipt = write(tmp_path, "receipt.json", receipt_checkpoint)
    path = write(tmp_path, "link.json", link)
    code, out = run(capsys, path, "--keys", keys, "--against", receipt)
    assert code == 1
    assert out.startswith(f"FAILED: {path}: the consistency proof does not show")


def test_a_receipt_of_another_log_fails(tmp_path, history, signer, keys, capsys):
    other = sign_checkpoint(signer, "another-log", 5, history.roots[4], WHEN)
    receipt = write(tmp_path, "receipt.json", other)
    new = write(tmp_path, "new.json", history.proof(signer, 6, SIZE))
    code, out = run(capsys, new, "--keys", keys, "--against", receipt)
    assert (code, out) == (1, f"FAILED: {receipt} is of log another-log, {new} of log {LOG}\n")


def test_a_failing_receipt_is_named(tmp_path, history, signer, keys, capsys):
    altered = copy.deepcopy(history.proof(signer, 2, 5))
    altered["entry"]["actor"] = "hr:someone else"
    receipt = write(tmp_path, "receipt.json", altered)
    new = write(tmp_path, "new.json", history.proof(signer, 6, SIZE))
    code, out = run(capsys, new, "--keys", keys, "--against", receipt)
    assert code == 1 and out.startswith(f"FAILED: {receipt}: the entry does not match the proof")


def test_several_files_are_each_checked(tmp_path, history, signer, keys, capsys):
    one = write(tmp_path, "one.json", history.proof(signer, 1, 4))
    two = write(tmp_path, "two.json", history.proof(signer, 9, SIZE))
    code, out = run(capsys, one, two, "--keys", keys)
    assert code == 0, out
    assert "index 1" in out and "index 9" in out and "\n  against:" not in out
    code, out = run(capsys, one, tmp_path / "missing.json", "--keys", keys)
    assert (code, out) == (1, f"FAILED: {tmp_path / 'missing.json'}: no such file\n")
