import re

import pytest
from django.core import mail

from kaohe.org.testing import PASSWORD
from kaohe.signing.actions import SigningError, do_begin_signing, do_sign
from kaohe.signing.models import Ceremony, DocumentState, Method
from kaohe.signing.testing import make_document, use_fake_renderer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def test_she_signs_with_her_password_and_a_drawn_signature(cast):
    user, document = cast.amy.user, make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSWORD)
    assert options == {}
    signature = do_sign(user, document, ceremony.public_id, password=PASSWORD, drawn_png=PNG)
    assert signature.method == Method.PASSWORD and "assertion" not in signature.evidence
    assert len(signature.evidence["drawn_png_sha256"]) == 64
    assert document.state == DocumentState.SIGNED


def test_wrong_passwords_count_and_five_end_the_ceremony(cast):
    user, document = cast.amy.user, make_document(cast.amy)
    ceremony, _options = do_begin_signing(user, document, Method.PASSWORD)
    for _ in range(5):
        with pytest.raises(SigningError):
            do_sign(user, document, ceremony.public_id, password="wrong")
    assert Ceremony.objects.get(pk=ceremony.pk).attempts == 5
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, password=PASSWORD)
    document.refresh_from_db()
    assert document.state == DocumentState.PENDING


def code_from_mail() -> str:
    return re.search(r"\b([0-9]{6})\b", mail.outbox[-1].subject).group(1)


def test_she_signs_with_an_emailed_code(cast, django_capture_on_commit_callbacks):
    user, document = cast.amy.user, make_document(cast.amy)
    with django_capture_on_commit_callbacks(execute=True):
        ceremony, _options = do_begin_signing(user, document, Method.EMAIL_CODE)
    code = code_from_mail()
    assert code not in ceremony.code_hash
    signature = do_sign(user, document, ceremony.public_id, code=code)
    assert signature.method == Method.EMAIL_CODE


def test_a_wrong_code_counts_and_a_used_code_is_refused(cast, django_capture_on_commit_callbacks):
    user, document = cast.amy.user, make_document(cast.amy)
    with django_capture_on_commit_callbacks(execute=True):
        ceremony, _options = do_begin_signing(user, document, Method.EMAIL_CODE)
    code = code_from_mail()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, code=wrong)
    do_sign(user, document, ceremony.public_id, code=code)
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, code=code)


def test_an_expired_code_is_refused(cast, django_capture_on_commit_callbacks):
    import datetime as dt

    import time_machine

    user, document = cast.amy.user, make_document(cast.amy)
    with django_capture_on_commit_callbacks(execute=True):
        ceremony, _options = do_begin_signing(user, document, Method.EMAIL_CODE)
    code = code_from_mail()
    later = ceremony.expires_at + dt.timedelta(seconds=1)
    with time_machine.travel(later), pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, code=code)


@pytest.mark.parametrize("drawn", [b"GIF89a" + b"\x00" * 10, PNG + b"\x00" * 205_000])
def test_a_drawn_signature_must_be_a_small_png(cast, drawn):
    user, document = cast.amy.user, make_document(cast.amy)
    ceremony, _options = do_begin_signing(user, document, Method.PASSWORD)
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, password=PASSWORD, drawn_png=drawn)


def test_a_ceremony_of_one_method_takes_no_other_secret(cast):
    user, document = cast.amy.user, make_document(cast.amy)
    ceremony, _options = do_begin_signing(user, document, Method.EMAIL_CODE)
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, password=PASSWORD)


def test_an_unknown_method_is_refused(cast):
    with pytest.raises(SigningError):
        do_begin_signing(cast.amy.user, make_document(cast.amy), "carrier-pigeon")


def test_wrong_secrets_are_counted_across_ceremonies(cast, django_capture_on_commit_callbacks):
    import datetime as dt

    import time_machine

    from kaohe.lib import clock

    user, document = cast.amy.user, make_document(cast.amy)
    for _ in range(4):
        ceremony, _options = do_begin_signing(user, document, Method.PASSWORD)
        with pytest.raises(SigningError):
            do_sign(user, document, ceremony.public_id, password="wrong")
    with django_capture_on_commit_callbacks(execute=True):
        by_code, _options = do_begin_signing(user, document, Method.EMAIL_CODE)
    spare, _options = do_begin_signing(user, document, Method.PASSWORD)
    with pytest.raises(SigningError):
        do_sign(
            user,
            document,
            by_code.public_id,
            code="000000" if code_from_mail() != "000000" else "111111",
        )
    # Five failures in five ceremonies, each recorded although refused.
    assert sum(Ceremony.objects.filter(user=user).values_list("attempts", flat=True)) == 5
    with pytest.raises(SigningError, match="20"):
        do_sign(user, document, spare.public_id, password=PASSWORD)
    with pytest.raises(SigningError, match="20"):
        do_begin_signing(user, document, Method.PASSWORD)
    document.refresh_from_db()
    assert document.state == DocumentState.PENDING
    assert Ceremony.objects.get(pk=spare.pk).attempts == 0
    with time_machine.travel(clock.now() + dt.timedelta(minutes=21), tick=False):
        ceremony, _options = do_begin_signing(user, document, Method.PASSWORD)
        do_sign(user, document, ceremony.public_id, password=PASSWORD)
    document.refresh_from_db()
    assert document.state == DocumentState.SIGNED
