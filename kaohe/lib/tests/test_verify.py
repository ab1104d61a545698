"""The offline verifier: every alteration of a proof document fails with a clear reason."""

import contextlib
import copy
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from kaohe.lib.canonical import canonical
from kaohe.lib.checkpoint import VerifyError, key_id, public_key_raw, sign_checkpoint
from kaohe.lib.merkle import TreeBuilder, consistency_plan, inclusion_plan, leaf_hash, resolve
from kaohe.lib.verify import (
    consistency_document,
    load_json,
    main,
    parse_keys,
    proof_document,
    verify_document,
)

WHEN = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.UTC)
LOG = "0b6f2a3c-log"
SIZE = 13
INDEX = 6
ROOT_DIR = Path(__file__).resolve().parents[3]


def body(i, **change):
    document = {
        "v": 1,
        "log_id": LOG,
        "index": i,
        "kind": "review.signed",
        "subject": {"employee": f"E{i:04d}", "document": f"doc-{i}"},
        "actor": "hr:李娜",
        "at": "2026-01-15T01:59:00.000Z",
        "payload": {"doc_sha256": "ab" * 32, "score": "87.50", "names": ["张三", "王五"]},
    }
    document.update(change)
    return canonical(document)


class Log:
    """An in-memory log with every subtree hash stored, as the ledger app stores them."""

    def __init__(self, bodies):
        self.bodies = bodies
        self.nodes = {}
        self.builder = TreeBuilder()
        self.roots = []
        for b in bodies:
            self.nodes.update(self.builder.append(leaf_hash(b)))
            self.roots.append(self.builder.root())

    def lookup(self, keys):
        return {key: self.nodes[key] for key in keys}

    def checkpoint(self, key, size):
        return sign_checkpoint(key, LOG, size, self.roots[size - 1], WHEN)

    def proof(self, key, index, size, public_keys=None):
        path = resolve(inclusion_plan(index, size), self.lookup)
        cp = self.checkpoint(key, size)
        keys = public_keys or [public_key_raw(key)]
        return proof_document(self.bodies[index], index, size, path, self.roots[size - 1], cp, keys)


@pytest.fixture(scope="module")
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def log():
    return Log([body(i) for i in range(SIZE)])


@pytest.fixture
def trusted(key):
    raw = public_key_raw(key)
    return {key_id(raw): raw}


@pytest.fixture
def doc(log, key):
    return log.proof(key, INDEX, SIZE)


def fails(doc, trusted, match=None):
    with pytest.raises(VerifyError, match=match) as err:
        verify_document(doc, trusted)
    return str(err.value)


# -- what a good proof shows --


def test_a_good_proof_verifies_and_says_what_it_proved(doc, trusted, key):
    lines = verify_document(doc, trusted)
    assert lines[0] == "entry: kind review.signed, recorded 2026-01-15T01:59:00.000Z, index 6"
    assert lines[1].startswith(f"included in log {LOG} at tree size 13, root ")
    assert (
        lines[2] == f"checkpoint: 2026-01-15T02:00:00Z, signed by key {key_id(public_key_raw(key))}"
    )
    assert lines[-1] == "keys: checked against 1 trusted key(s) given"


def test_every_entry_of_every_size_verifies(log, key, trusted):
    for size in range(1, SIZE + 1):
        for index in range(size):
            verify_document(log.proof(key, index, size), trusted)


def test_without_trusted_keys_the_report_says_so_and_shows_fingerprints(doc, key):
    lines = verify_document(doc, None)
    raw = public_key_raw(key)
    assert any("taken from the file itself" in line for line in lines)
    assert any("/api/v1/ledger/keys" in line for line in lines)
    assert any(key_id(raw) in line and hashlib_hex(raw) in line for line in lines)


def hashlib_hex(raw):
    import hashlib

    return hashlib.sha256(raw).hexdigest()


def test_the_document_has_the_design_format(doc, log):
    assert doc["format"] == "kaohe-proof/v1"
    assert canonical(doc["entry"]) == log.bodies[INDEX]
    assert set(doc["proof"]) == {
        "log_id", "leaf_index", "tree_size", "leaf_hash", "audit_path", "root_hash", "checkpoint"
    }  # fmt: skip
    assert doc["public_keys"][0]["algorithm"] == "Ed25519"
    json.dumps(doc)  # plain JSON all the way down


def test_a_document_survives_a_round_trip_through_text(doc, trusted):
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    verify_document(load_json(text.encode(), "proof.json"), trusted)


def test_proof_document_refuses_a_body_that_is_not_canonical(log, key):
    with pytest.raises(ValueError, match="not stored in canonical form"):
        proof_document(b'{"b":1, "a":2}', 0, 1, [], b"", log.checkpoint(key, 1), [])


# -- the entry --


def entry_changes():
    """Each field of the entry changed, one at a time, and a field added or dropped."""
    yield "v", 2
    yield "log_id", "another-log"
    yield "index", 7
    yield "kind", "review.rejected"
    yield "subject", {"employee": "E0007", "document": "doc-6"}
    yield "actor", "hr:王伟"
    yield "at", "2026-01-15T01:59:00.001Z"
    yield "payload", {"doc_sha256": "ab" * 32, "score": "87.51", "names": ["张三", "王五"]}
    yield "payload", {"doc_sha256": "ab" * 32, "score": "87.50", "names": ["王五", "张三"]}
    yield "request", {"ip": "10.0.0.1"}


@pytest.mark.parametrize(("field", "value"), list(entry_changes()))
def test_changing_any_field_of_the_entry_fails(doc, trusted, field, value):
    doc["entry"][field] = value
    message = fails(doc, trusted)
    assert "the entry" in message


def test_dropping_a_field_of_the_entry_fails(doc, trusted):
    del doc["entry"]["actor"]
    fails(doc, trusted, "the entry does not match the proof")


def test_an_entry_that_cannot_be_canonical_fails(doc, trusted):
    doc["entry"]["payload"]["score"] = 87.5
    fails(doc, trusted, "cannot be put in canonical form.*87.5")


def test_an_entry_proven_at_another_index_than_it_names_fails(log, key, trusted):
    doc = log.proof(key, 5, SIZE)
    doc["entry"] = json.loads(log.bodies[6])
    doc["proof"]["leaf_hash"] = leaf_hash(log.bodies[6]).hex()
    fails(doc, trusted, "says it is entry 6, the proof is for 5")


# -- the proof --


def test_a_changed_leaf_hash_fails(doc, trusted):
    doc["proof"]["leaf_hash"] = flip_hex(doc["proof"]["leaf_hash"])
    fails(doc, trusted, "the entry does not match the proof")


@pytest.mark.parametrize("i", range(4))
def test_a_changed_path_element_fails(doc, trusted, i):
    doc["proof"]["audit_path"][i] = flip_hex(doc["proof"]["audit_path"][i])
    fails(doc, trusted, "the audit path does not lead from leaf 6")


def test_a_truncated_path_fails(doc, trusted):
    doc["proof"]["audit_path"].pop()
    fails(doc, trusted, "audit path does not lead")


def test_an_extended_path_fails(doc, trusted):
    doc["proof"]["audit_path"].append(doc["proof"]["root_hash"])
    fails(doc, trusted, "audit path does not lead")


def test_swapped_path_elements_fail(doc, trusted):
    path = doc["proof"]["audit_path"]
    path[0], path[1] = path[1], path[0]
    fails(doc, trusted, "audit path does not lead")


@pytest.mark.parametrize("index", [5, 7, 12, 0])
def test_a_wrong_leaf_index_fails(doc, trusted, index):
    doc["proof"]["leaf_index"] = index
    fails(doc, trusted, f"the proof is for {index}|audit path")


def test_a_wrong_leaf_index_fails_even_when_the_entry_names_none(log, key, trusted):
    bodies = [canonical({"kind": "note", "n": str(i)}) for i in range(SIZE)]
    doc = Log(bodies).proof(key, INDEX, SIZE)
    verify_document(doc, trusted)
    doc["proof"]["leaf_index"] = INDEX + 1
    fails(doc, trusted, "the audit path does not lead from leaf 7")


@pytest.mark.parametrize("size", [6, 12, 14, 26])
def test_a_wrong_tree_size_fails(doc, trusted, size):
    doc["proof"]["tree_size"] = size
    fails(doc, trusted, "audit path does not lead|tree size|outside a tree")


def test_a_proof_root_other_than_the_paths_fails(doc, trusted, log):
    doc["proof"]["root_hash"] = log.roots[SIZE - 2].hex()
    fails(doc, trusted, "audit path does not lead")


def test_a_checkpoint_of_another_root_fails(doc, trusted, log, key):
    doc["proof"]["checkpoint"] = sign_checkpoint(key, LOG, SIZE, log.roots[SIZE - 2], WHEN)
    fails(doc, trusted, "is not the checkpoint's root")


def test_a_checkpoint_of_another_size_fails(doc, trusted, log, key):
    doc["proof"]["checkpoint"] = sign_checkpoint(key, LOG, SIZE + 1, log.roots[SIZE - 1], WHEN)
    fails(doc, trusted, "the proof is for tree size 13, the checkpoint for 14")


def test_a_checkpoint_of_another_log_fails(doc, trusted, log, key):
    doc["proof"]["checkpoint"] = sign_checkpoint(key, "other", SIZE, log.roots[SIZE - 1], WHEN)
    fails(doc, trusted, "the checkpoint for another log")


def test_a_checkpoint_root_changed_without_resigning_fails(doc, trusted, log):
    doc["proof"]["checkpoint"]["root_hash"] = log.roots[SIZE - 2].hex()
    doc["proof"]["root_hash"] = log.roots[SIZE - 2].hex()
    fails(doc, trusted, "audit path does not lead")


def test_a_checkpoint_time_changed_without_resigning_fails(doc, trusted):
    doc["proof"]["checkpoint"]["time"] = "2025-01-15T02:00:00Z"
    fails(doc, trusted, "signature of checkpoint of size 13 does not match")


# -- the keys --


def test_a_proof_resigned_by_an_untrusted_key_names_the_key(log, other_key, trusted):
    doc = log.proof(other_key, INDEX, SIZE)
    message = fails(doc, trusted, "which is not among the trusted keys")
    assert key_id(public_key_raw(other_key)) in message
    assert next(iter(trusted)) in message


def test_a_proof_resigned_with_its_own_keys_shows_the_wrong_fingerprint(log, key, other_key):
    doc = log.proof(other_key, INDEX, SIZE)
    report = "\n".join(verify_document(doc, None))
    assert key_id(public_key_raw(other_key)) in report
    assert key_id(public_key_raw(key)) not in report


def test_a_signature_swapped_in_from_another_key_fails(doc, log, other_key, trusted):
    forged = log.checkpoint(other_key, SIZE)
    doc["proof"]["checkpoint"]["signature"] = forged["signature"]
    fails(doc, trusted, "does not match its contents and key")


def test_a_file_key_that_does_not_have_its_id_fails(doc, other_key):
    doc["public_keys"][0]["public_key"] = key_b64(other_key)
    fails(doc, None, "does not have that key id")


def test_keys_file_may_be_the_api_answer_or_a_bare_list(key):
    entry = {"key_id": key_id(public_key_raw(key)), "algorithm": "Ed25519"}
    entry |= {"public_key": key_b64(key), "created_at": "2026-01-01T00:00:00Z", "retired_at": None}
    expected = {entry["key_id"]: public_key_raw(key)}
    assert parse_keys({"keys": [entry]}) == expected
    assert parse_keys([entry]) == expected


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"nope": []}, "must be a JSON array"),
        (["x"], "key 0 is not a JSON object"),
        ([{"key_id": "a"}], "key 0 lacks the field 'public_key'"),
        ([{"key_id": "a", "public_key": "%%%"}], "not base64"),
        ([{"key_id": "a", "algorithm": "RSA", "public_key": "AAAA"}], "only Ed25519"),
    ],
)
def test_a_bad_keys_file_is_refused_clearly(keys, message):
    with pytest.raises(VerifyError, match=message):
        parse_keys(keys)


# -- the document as a whole --


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("entry"), "lacks the field 'entry'"),
        (lambda d: d.update(entry=[1]), "field 'entry' has the wrong type"),
        (lambda d: d.update(format="kaohe-proof/v9"), "unknown format"),
        (lambda d: d.pop("public_keys"), "lacks the field 'public_keys'"),
        (lambda d: d["proof"].update(audit_path="ab"), "'audit_path' has the wrong type"),
        (lambda d: d["proof"]["audit_path"].append(5), r"audit_path\[4\] is not a SHA-256"),
        (lambda d: d["proof"]["audit_path"].append("zz" * 32), "not a SHA-256 hash"),
        (lambda d: d["proof"].update(audit_path=["00" * 32] * 65), "longer than any tree"),
        (lambda d: d["proof"].update(leaf_index=-1), "leaf_index -1 is out of range"),
        (lambda d: d["proof"].update(leaf_index=True), "'leaf_index' has the wrong type"),
        (lambda d: d["proof"].update(leaf_index="6"), "'leaf_index' has the wrong type"),
        (lambda d: d["proof"].update(tree_size=0), "tree_size 0 is out of range"),
        (lambda d: d["proof"].update(tree_size=2**64), "out of range"),
        (lambda d: d["proof"].update(leaf_index=13), "outside a tree of size 13"),
        (lambda d: d["proof"].update(root_hash="ab"), "root_hash is not a SHA-256"),
        (lambda d: d["proof"]["checkpoint"].pop("signature"), "lacks field.*signature"),
        (lambda d: d["proof"].update(checkpoint="x"), "'checkpoint' has the wrong type"),
    ],
)
def test_an_ill_formed_document_is_refused_clearly(doc, mutate, message):
    mutate(doc)
    fails(doc, None, message)


@pytest.mark.parametrize("value", [None, [], "text", 1, True])
def test_a_document_that_is_not_an_object_is_refused(value):
    with pytest.raises(VerifyError, match="does not hold a JSON object"):
        verify_document(value, None)


def test_duplicate_keys_are_refused_so_a_reader_and_the_verifier_see_the_same():
    with pytest.raises(VerifyError, match="the key 'kind' twice"):
        load_json('{"entry": {"kind": "a", "kind": "b"}}', "f")


def test_nan_is_refused():
    with pytest.raises(VerifyError, match="NaN"):
        load_json('{"x": NaN}', "f")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def paths_in(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths_in(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths_in(v, (*prefix, i))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_value_anywhere_fails_only_with_verify_error(log, key, data):
    doc = log.proof(key, INDEX, SIZE)
    trusted = {key_id(public_key_raw(key)): public_key_raw(key)}
    path = data.draw(st.sampled_from(list(paths_in(doc))))
    replacement = data.draw(json_values)
    if not path:
        doc = replacement
    else:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = replacement
    with contextlib.suppress(VerifyError):
        verify_document(doc, data.draw(st.sampled_from([trusted, None])))


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=2000))
def test_any_truncation_of_the_file_fails_with_verify_error(log, key, cut):
    text = json.dumps(log.proof(key, INDEX, SIZE))
    if cut >= len(text):
        return
    with pytest.raises(VerifyError):
        verify_document(load_json(text[:cut], "f"), None)


# -- consistency --


@pytest.fixture
def consistency(log, key):
    return consistency_doc(log, key, 5, SIZE)


def consistency_doc(log, key, m, n):
    proof = resolve(consistency_plan(m, n), log.lookup)
    return consistency_document(
        log.checkpoint(key, m), log.checkpoint(key, n), proof, [public_key_raw(key)]
    )


def test_a_consistency_proof_verifies(log, key, trusted):
    for m in range(1, SIZE + 1):
        for n in range(m, SIZE + 1):
            lines = verify_document(consistency_doc(log, key, m, n), trusted)
            assert lines[0] == f"log {LOG} at tree size {n} extends the log at tree size {m}"


def test_a_rewritten_history_is_caught(log, key, trusted):
    rewritten = Log([*log.bodies[:3], body(3, actor="hr:someone else"), *log.bodies[4:]])
    proof = resolve(consistency_plan(5, SIZE), rewritten.lookup)
    doc = consistency_document(
        log.checkpoint(key, 5), rewritten.checkpoint(key, SIZE), proof, [public_key_raw(key)]
    )
    fails(doc, trusted, "does not show that the log at size 13 extends the log at size 5")


def test_an_altered_consistency_proof_fails(consistency, trusted):
    consistency["proof"][0] = flip_hex(consistency["proof"][0])
    fails(consistency, trusted, "does not show")


def test_swapped_checkpoints_fail(consistency, trusted):
    consistency["old"], consistency["new"] = consistency["new"], consistency["old"]
    fails(consistency, trusted, "no consistency proof exists from tree size 13 to tree size 5")


def test_checkpoints_of_two_logs_fail(consistency, trusted, log, key):
    consistency["new"] = sign_checkpoint(key, "other", SIZE, log.roots[-1], WHEN)
    fails(consistency, trusted, "of two logs")


def test_a_consistency_checkpoint_by_an_unknown_key_fails(consistency, log, other_key, trusted):
    consistency["new"] = log.checkpoint(other_key, SIZE)
    fails(consistency, trusted, "not among the trusted keys")


# -- the command --


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return str(path)


def key_b64(key):
    import base64

    return base64.b64encode(public_key_raw(key)).decode()


def keys_file(tmp_path, *keys, name="keys.json"):
    entries = [
        {"key_id": key_id(public_key_raw(k)), "algorithm": "Ed25519", "public_key": key_b64(k)}
        for k in keys
    ]
    return write(tmp_path, name, {"keys": entries})


def test_the_command_prints_ok_and_the_report(tmp_path, doc, key, capsys):
    assert main([write(tmp_path, "p.json", doc), "--keys", keys_file(tmp_path, key)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK\n")
    assert "index 6" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "kaohe-proof/v1", "entry": {"ki', "is not valid JSON (line 1"),
        (b"\xff\xfe garbage", "is not UTF-8 text"),
        (b"PK\x03\x04", "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b"[]", "does not hold a JSON object"),
    ],
)
def test_the_command_fails_cleanly_on_garbage(tmp_path, capsys, content, message):
    assert main([write(tmp_path, "p.json", content), "--trust-embedded-keys"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED: ")
    assert message in out


def test_the_command_fails_cleanly_on_a_missing_file(tmp_path, capsys):
    assert main([str(tmp_path / "nope.json"), "--trust-embedded-keys"]) == 1
    assert capsys.readouterr().out == f"FAILED: {tmp_path / 'nope.json'}: no such file\n"


def test_the_command_fails_cleanly_on_a_directory(tmp_path, capsys):
    assert main([str(tmp_path), "--trust-embedded-keys"]) == 1
    assert capsys.readouterr().out.startswith("FAILED: ")


def run_kaohe(*args):
    """`python -m kaohe` with no settings module and a data dir that does not exist."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    env["KAOHE_DATA_DIR"] = "/nonexistent/kaohe-data"
    env["DATABASE_URL"] = "postgres://nobody@/nonexistent"
    return subprocess.run(
        [sys.executable, "-m", "kaohe", "verify", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT_DIR,
        timeout=60,
    )


def test_kaohe_verify_runs_without_settings_or_database(tmp_path, doc, key, other_key, log):
    good = write(tmp_path, "good.json", doc)
    result = run_kaohe(good, "--keys", keys_file(tmp_path, key))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("OK\n")

    result = run_kaohe(good)
    assert result.returncode == 1, "without a trust anchor a proof proves nothing"
    assert result.stdout.startswith("FAILED: no trusted keys")

    result = run_kaohe(good, "--trust-embedded-keys")
    assert result.returncode == 0
    assert "taken from the file itself" in result.stdout

    altered = copy.deepcopy(doc)
    altered["entry"]["actor"] = "hr:someone else"
    unknown = log.proof(other_key, INDEX, SIZE)
    cases = [
        ((write(tmp_path, "altered.json", altered),), "the entry does not match the proof"),
        ((good, "--keys", keys_file(tmp_path, other_key, name="other.json")),
         "not among the trusted keys"),
        ((write(tmp_path, "unknown.json", unknown), "--keys", keys_file(tmp_path, key)),
         f"signed by key {key_id(public_key_raw(other_key))}"),
        ((write(tmp_path, "cut.json", json.dumps(doc)[:300].encode()),), "is not valid JSON"),
        ((write(tmp_path, "text.txt", b"hello"),), "is not valid JSON"),
        ((str(tmp_path / "missing.json"),), "no such file"),
    ]  # fmt: skip
    for args, message in cases:
        if "--keys" not in args:
            args = (*args, "--trust-embedded-keys")
        result = run_kaohe(*args)
        assert result.returncode == 1, args
        assert result.stdout.startswith("FAILED: "), result.stdout
        assert message in result.stdout
        assert "Traceback" not in result.stdout + result.stderr


def test_kaohe_verify_does_not_import_django(tmp_path, doc):
    script = (
        "import sys; sys.argv = ['kaohe', 'verify', sys.argv[1], '--trust-embedded-keys']\n"
        "from kaohe.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('django' in sys.modules, code)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    result = subprocess.run(
        [sys.executable, "-c", script, write(tmp_path, "p.json", doc)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT_DIR,
        timeout=60,
    )
    assert result.stdout.splitlines()[-1] == "False 0"


def flip_hex(h):
    return f"{int(h[0], 16) ^ 1:x}{h[1:]}"
