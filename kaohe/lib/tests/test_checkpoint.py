import base64
import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kaohe.lib.canonical import canonical
from kaohe.lib.checkpoint import (
    GENESIS,
    VerifyError,
    checkpoint_hash,
    format_time,
    key_id,
    parse_time,
    public_key_raw,
    sign_checkpoint,
    signed_bytes,
    verify_checkpoint,
)

WHEN = dt.datetime(2026, 1, 15, 10, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture(scope="module")
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(key):
    raw = public_key_raw(key)
    return {key_id(raw): raw}


@pytest.fixture
def checkpoint(key):
    return sign_checkpoint(key, "log-1", 1000, ROOT, WHEN)


def test_key_id_is_the_start_of_the_keys_sha256():
    raw = bytes(range(32))
    assert key_id(raw) == hashlib.sha256(raw).hexdigest()[:16]


def test_a_checkpoint_has_the_documented_fields(checkpoint, key):
    assert checkpoint == {
        "log_id": "log-1",
        "tree_size": 1000,
        "root_hash": ROOT.hex(),
        "time": "2026-01-15T02:00:00Z",
        "key_id": key_id(public_key_raw(key)),
        "signature": checkpoint["signature"],
    }
    assert len(base64.b64decode(checkpoint["signature"])) == 64


def test_the_signature_covers_the_canonical_json_without_signature_and_timestamp(checkpoint):
    expected = {k: v for k, v in checkpoint.items() if k != "signature"}
    assert signed_bytes(checkpoint) == canonical(expected)
    assert signed_bytes({**checkpoint, "timestamp": "AAAA"}) == canonical(expected)


def test_a_good_checkpoint_verifies(checkpoint, trusted):
    verify_checkpoint(checkpoint, trusted)


def test_a_timestamp_added_later_does_not_break_the_signature(checkpoint, trusted):
    verify_checkpoint({**checkpoint, "timestamp": base64.b64encode(b"token").decode()}, trusted)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log_id", "log-2"),
        ("tree_size", 1001),
        ("root_hash", hashlib.sha256(b"other").hexdigest()),
        ("time", "2026-01-15T02:00:01Z"),
    ],
)
def test_changing_any_signed_field_breaks_the_signature(checkpoint, trusted, field, value):
    with pytest.raises(VerifyError, match=r"signature of checkpoint of size \d+ does not match"):
        verify_checkpoint({**checkpoint, field: value}, trusted)


def test_a_signature_by_another_key_under_the_trusted_id_fails(checkpoint, trusted):
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), "log-1", 1000, ROOT, WHEN)
    forged["key_id"] = checkpoint["key_id"]
    with pytest.raises(VerifyError, match="does not match"):
        verify_checkpoint(forged, trusted)


def test_an_unknown_key_is_named_with_the_trusted_ones(trusted):
    other = Ed25519PrivateKey.generate()
    cp = sign_checkpoint(other, "log-1", 5, ROOT, WHEN)
    with pytest.raises(VerifyError) as err:
        verify_checkpoint(cp, trusted)
    assert str(err.value) == (
        f"checkpoint of size 5 is signed by key {cp['key_id']}, which is not among the "
        f"trusted keys: {next(iter(trusted))}"
    )


def test_a_trusted_key_under_the_wrong_id_is_refused(checkpoint, trusted):
    raw = next(iter(trusted.values()))
    with pytest.raises(VerifyError, match="is in fact key"):
        verify_checkpoint(checkpoint, {checkpoint["key_id"]: bytes(32)})
    verify_checkpoint(checkpoint, {checkpoint["key_id"]: raw})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tree_size": None}, "tree_size must be an integer, not null"),
        ({"tree_size": "1000"}, "tree_size must be an integer, not a string"),
        ({"tree_size": True}, "tree_size must be an integer, not true/false"),
        ({"tree_size": 1000.0}, "tree_size must be an integer, not a number"),
        ({"tree_size": -1}, "out of range"),
        ({"root_hash": "AB" * 32}, "64 lowercase hex"),
        ({"root_hash": "ab"}, "64 lowercase hex"),
        ({"time": "2026-01-15 02:00:00"}, "checkpoint time"),
        ({"time": "2026-02-30T02:00:00Z"}, "checkpoint time"),
        ({"log_id": ""}, "log_id is empty"),
        ({"signature": "not base64!"}, "signature is not base64"),
        ({"signature": 5}, "signature must be a string"),
        ({"extra": 1}, "unexpected field"),
        ({"previous": "ab"}, "previous must be 64 lowercase hex"),
        ({"previous": None}, "previous must be a string, not null"),
    ],
)
def test_ill_formed_checkpoints_are_refused_clearly(checkpoint, trusted, change, message):
    with pytest.raises(VerifyError, match=message):
        verify_checkpoint({**checkpoint, **change}, trusted)


@pytest.mark.parametrize(
    "field", ["log_id", "tree_size", "root_hash", "time", "key_id", "signature"]
)
def test_a_missing_field_is_named(checkpoint, trusted, field):
    del checkpoint[field]
    with pytest.raises(VerifyError, match=f"lacks field.*{field}"):
        verify_checkpoint(checkpoint, trusted)


@pytest.mark.parametrize("value", [None, [], "checkpoint", 3])
def test_a_checkpoint_that_is_not_an_object_is_refused(trusted, value):
    with pytest.raises(VerifyError, match="must be a JSON object"):
        verify_checkpoint(value, trusted)


def test_times_are_utc_to_the_second():
    assert format_time(WHEN) == "2026-01-15T02:00:00Z"
    assert parse_time("2026-01-15T02:00:00Z") == dt.datetime(2026, 1, 15, 2, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(dt.datetime(2026, 1, 15))


def test_signing_refuses_what_could_not_verify(key):
    with pytest.raises(VerifyError):
        sign_checkpoint(key, "", 1, ROOT, WHEN)


def test_a_chained_checkpoint_signs_the_hash_of_the_one_before(key, trusted, checkpoint):
    first = sign_checkpoint(key, "log-1", 1000, ROOT, WHEN, previous=GENESIS)
    second = sign_checkpoint(key, "log-1", 1001, ROOT, WHEN, previous=checkpoint_hash(first))
    assert first["previous"] == "0" * 64
    assert second["previous"] == hashlib.sha256(signed_bytes(first)).hexdigest()
    assert checkpoint_hash({**first, "timestamp": "AAAA"}) == second["previous"]
    for cp in (first, second):
        verify_checkpoint(cp, trusted)
    with pytest.raises(VerifyError, match="does not match"):
        verify_checkpoint({**second, "previous": GENESIS}, trusted)
    with pytest.raises(VerifyError, match="does not match"):
        verify_checkpoint({k: v for k, v in second.items() if k != "previous"}, trusted)


def test_a_checkpoint_from_before_the_chain_still_verifies(checkpoint, trusted):
    assert "previous" not in checkpoint
    verify_checkpoint(checkpoint, trusted)
