"""RFC 3161 tokens are checked for their imprint, their CMS signature, the time-stamping key
usage and, given trust roots, their chain; every failure says which, in one sentence."""

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaohe.lib.checkpoint import VerifyError
from kaohe.lib.rfc3161 import LATE, check_token, late_by, load_roots, token_time
from kaohe.lib.tests.tsa import authority, with_altered_signature, with_altered_time

DATA = b'{"log_id":"l","root_hash":"00","time":"2026-03-02T09:00:00Z","tree_size":1}'


@pytest.fixture(scope="module")
def tsa():
    return authority("Test")


@pytest.fixture(scope="module")
def token(tsa):
    return tsa.token(DATA)


@pytest.fixture(scope="module")
def roots(tsa):
    return load_roots(tsa.ca_pem, "roots.pem")


def fails(token, roots=None, data=DATA) -> str:
    with pytest.raises(VerifyError) as raised:
        check_token(token, data, roots)
    return str(raised.value)


def test_a_valid_token_passes_and_says_who_signed_it_and_when(token):
    check = check_token(token, DATA)
    assert check.signer == "Common Name: Test TSA"
    assert check.time == token_time(token)
    assert check.chained is False


def test_a_valid_token_chains_to_its_authoritys_root(token, roots):
    assert check_token(token, DATA, roots).chained is True


def test_a_token_over_other_data_fails(token):
    assert fails(token, data=b"other") == (
        "the timestamp token covers other data than this checkpoint"
    )


def test_a_token_whose_tstinfo_was_altered_fails(token, roots):
    for trusted in (None, roots):
        assert "the timestamp token was altered: its TSTInfo is not what the authority signed" in (
            fails(with_altered_time(token), trusted)
        )


def test_a_token_whose_signature_was_altered_fails(token, roots):
    for trusted in (None, roots):
        assert "signature does not verify with the certificate it carries" in (
            fails(with_altered_signature(token), trusted)
        )


def test_a_token_from_an_authority_under_another_root_fails_the_chain_check(token):
    other = load_roots(authority("Other").ca_pem, "other.pem")
    assert fails(token, other) == (
        "the timestamping authority's certificate (Common Name: Test TSA) does not chain to "
        "any of the given trust roots"
    )


def test_a_root_of_the_same_name_but_another_key_fails_the_chain_check(token):
    impostor = load_roots(authority("Test").ca_pem, "impostor.pem")
    assert "does not chain to the given trust roots" in fails(token, impostor)


def test_a_token_signed_without_the_time_stamping_key_usage_fails():
    plain = authority("Plain", eku=False)
    message = fails(plain.token(DATA))
    assert "lacks the time-stamping extended key usage" in message


@pytest.mark.parametrize("token", [b"", b"\x30\x03\x02\x01\x01", b"not a token", bytes(100)])
def test_garbage_is_refused_as_unreadable(token):
    assert fails(token).startswith("the timestamp token cannot be read")


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_changed_or_cut_token_fails_only_with_verify_error(token, roots, data):
    at = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    altered = bytearray(token)
    altered[at] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(token)))
    for candidate in (bytes(altered), token[:cut]):
        with contextlib.suppress(VerifyError):
            check_token(candidate, DATA, data.draw(st.sampled_from([None, roots])))


def test_trust_roots_must_be_certificates():
    with pytest.raises(VerifyError, match=r"roots\.pem does not hold X\.509 certificates"):
        load_roots(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "roots.pem")
    with pytest.raises(VerifyError, match=r"roots\.pem does not hold"):
        load_roots(b"", "roots.pem")


def test_a_timestamp_more_than_an_hour_late_is_late():
    signed = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    assert late_by(signed + LATE, signed) is None
    assert late_by(signed + LATE + dt.timedelta(seconds=1), signed) == LATE + dt.timedelta(
        seconds=1
    )
