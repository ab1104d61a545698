import datetime as dt
import hashlib

import pytest
import time_machine
from django.core import mail

from kaohe.ledger.models import Entry
from kaohe.lib.canonical import canonical
from kaohe.lib.verify import verify_document
from kaohe.org.models import EmploymentStatus
from kaohe.signing.actions import (
    SigningError,
    do_begin_registration,
    do_begin_signing,
    do_finish_registration,
    do_mark_opened,
    do_mark_read,
    do_revoke_passkey,
    do_sign,
    do_withdraw,
)
from kaohe.signing.integrity import reverify
from kaohe.signing.models import DocumentState, Method
from kaohe.signing.testing import SoftAuthenticator, make_document, use_fake_renderer
from kaohe.signing.webauthn import signing_challenge


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def register(user, key=None):
    key = key or SoftAuthenticator()
    ceremony, options = do_begin_registration(user)
    passkey = do_finish_registration(user, ceremony.public_id, key.create(options), "phone")
    return key, passkey


def sign_with(user, document, key, **kw):
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    return do_sign(user, document, ceremony.public_id, assertion=key.get(options), **kw)


def test_registration_keeps_the_public_key(cast):
    key, passkey = register(cast.amy.user)
    assert bytes(passkey.credential_id) == key.credential_id
    assert bytes(passkey.public_key) == key.cose_public_key()
    assert Entry.objects.filter(kind="passkey.registered", employee_no="E0003").exists()
    _ceremony, options = do_begin_registration(cast.amy.user)
    assert options["excludeCredentials"][0]["id"] == key.credential_id_b64
    assert options["authenticatorSelection"]["residentKey"] == "preferred"


def test_a_registration_answer_is_accepted_once(cast):
    user = cast.amy.user
    key = SoftAuthenticator()
    ceremony, options = do_begin_registration(user)
    answer = key.create(options)
    do_finish_registration(user, ceremony.public_id, answer, "phone")
    with pytest.raises(SigningError):
        do_finish_registration(user, ceremony.public_id, answer, "phone")


def test_a_registration_from_another_origin_is_refused(cast, settings):
    settings.KAOHE_WEBAUTHN_ANY_LOCALHOST = False
    key = SoftAuthenticator(origin="https://evil.example")
    with pytest.raises(SigningError):
        register(cast.amy.user, key)


def test_the_employee_signs_with_her_passkey(cast, django_capture_on_commit_callbacks):
    user = cast.amy.user
    key, passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    expected = signing_challenge(document.doc_sha256, ceremony.public_id, bytes(ceremony.nonce),
                                 cast.amy.public_id)  # fmt: skip
    assert bytes(ceremony.challenge) == expected
    assert options["allowCredentials"][0]["id"] == key.credential_id_b64
    with django_capture_on_commit_callbacks(execute=True):
        signature = do_sign(user, document, ceremony.public_id, assertion=key.get(options))
    document.refresh_from_db()
    assert document.state == DocumentState.SIGNED and document.closed_at
    assert signature.method == Method.PASSKEY and signature.credential == passkey
    entry = Entry.objects.get(index=signature.entry_index)
    evidence = {k: v for k, v in signature.evidence.items() if k != "entry_index"}
    assert hashlib.sha256(canonical(evidence)).hexdigest() in entry.body
    assert signature.evidence["assertion"]["challenge_inputs"]["doc_sha256"] == document.doc_sha256
    reverify(signature)
    signature.refresh_from_db()
    assert signature.receipt["proof"]["leaf_index"] == signature.entry_index
    assert verify_document(signature.receipt, None)
    assert (
        len(mail.outbox[-1].attachments) == 1
        and mail.outbox[-1].attachments[0][0] == "receipt.json"
    )


def test_a_replayed_assertion_is_refused(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    answer = key.get(options)
    do_sign(user, document, ceremony.public_id, assertion=answer)
    other = make_document(cast.amy)
    with pytest.raises(SigningError):
        do_sign(user, other, ceremony.public_id, assertion=answer)
    ceremony2, _options = do_begin_signing(user, other, Method.PASSKEY)
    with pytest.raises(SigningError):
        do_sign(user, other, ceremony2.public_id, assertion=answer)


def test_an_assertion_for_another_documents_challenge_is_refused(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    first, second = make_document(cast.amy), make_document(cast.amy)
    _c1, options1 = do_begin_signing(user, first, Method.PASSKEY)
    c2, _options2 = do_begin_signing(user, second, Method.PASSKEY)
    with pytest.raises(SigningError):
        do_sign(user, second, c2.public_id, assertion=key.get(options1))
    assert second.state == DocumentState.PENDING


@pytest.mark.parametrize("who", ["hazel", "mike", "ada", "olga"])
def test_nobody_else_signs_the_employees_document(cast, who):
    person = getattr(cast, who)
    user = getattr(person, "user", person)
    register(user)
    document = make_document(cast.amy)
    with pytest.raises(SigningError):
        do_begin_signing(user, document, Method.PASSKEY)
    key, _passkey = register(cast.amy.user)
    ceremony, options = do_begin_signing(cast.amy.user, document, Method.PASSKEY)
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options))


def test_withdrawn_and_superseded_documents_cannot_be_signed(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    do_withdraw(cast.hazel, document, "wrong figures")
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options))
    old = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, old, Method.PASSKEY)
    make_document(cast.amy, supersedes=old)
    with pytest.raises(SigningError):
        do_sign(user, old, ceremony.public_id, assertion=key.get(options))
    with pytest.raises(SigningError):
        do_begin_signing(user, old, Method.PASSKEY)


def test_an_expired_ceremony_is_refused(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    later = ceremony.expires_at + dt.timedelta(seconds=1)
    with time_machine.travel(later), pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options))


def test_a_revoked_passkey_signs_nothing(cast):
    user = cast.amy.user
    key, passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    do_revoke_passkey(user, passkey)
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options))
    with pytest.raises(SigningError):
        do_begin_signing(user, document, Method.PASSKEY)
    with pytest.raises(SigningError):
        do_revoke_passkey(cast.hazel, passkey)


def test_a_former_employee_cannot_sign(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    cast.amy.status = EmploymentStatus.TERMINATED
    cast.amy.save(update_fields=["status"])
    user.refresh_from_db()
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options))


def test_the_sign_count_must_increase(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    sign_with(user, make_document(cast.amy), key)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options, bump=0))


def test_reverify_refuses_an_assertion_moved_to_another_document(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    first = sign_with(user, make_document(cast.amy), key)
    second = sign_with(user, make_document(cast.amy), key)
    second.assertion = first.assertion
    with pytest.raises(SigningError):
        reverify(second)


def test_opening_and_reading_are_recorded_once_and_only_for_her(cast):
    document = make_document(cast.amy)
    assert not do_mark_opened(cast.hazel, document, None)
    assert do_mark_opened(cast.amy.user, document, None)
    assert not do_mark_opened(cast.amy.user, document, None)
    assert do_mark_read(cast.amy.user, document, None)
    assert not do_mark_read(cast.amy.user, document, None)
    kinds = list(Entry.objects.filter(kind__startswith="document.").values_list("kind", flat=True))
    assert kinds.count("document.opened") == 1 and kinds.count("document.read") == 1


def test_signing_requires_user_verification(cast):
    user = cast.amy.user
    key = SoftAuthenticator()
    ceremony, options = do_begin_registration(user)
    assert options["authenticatorSelection"]["userVerification"] == "required"
    with pytest.raises(SigningError):
        do_finish_registration(user, ceremony.public_id, key.create(options, uv=False), "phone")
    key, _passkey = register(user)
    document = make_document(cast.amy)
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    assert options["userVerification"] == "required"
    with pytest.raises(SigningError):
        do_sign(user, document, ceremony.public_id, assertion=key.get(options, uv=False))
    assert document.state == DocumentState.PENDING
    ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
    signature = do_sign(user, document, ceremony.public_id, assertion=key.get(options))
    assert signature.assertion["user_verified"] is True
    assert signature.evidence["assertion"]["user_verified"] is True


def test_reverify_holds_an_archived_user_verified_claim_to_the_flag(cast):
    user = cast.amy.user
    key, _passkey = register(user)
    signature = sign_with(user, make_document(cast.amy), key)
    ceremony, options = do_begin_signing(user, make_document(cast.amy), Method.PASSKEY)
    # An assertion made without verification, dressed up as verified, does not hold up.
    unverified = key.get(options, uv=False)
    inputs = signature.assertion["challenge_inputs"]
    ceremony_inputs = inputs | {
        "doc_sha256": ceremony.document.doc_sha256,
        "ceremony": str(ceremony.public_id),
        "nonce": bytes(ceremony.nonce).hex(),
    }
    response = unverified["response"]
    signature.document = ceremony.document
    signature.assertion = signature.assertion | {
        "client_data_json": response["clientDataJSON"],
        "authenticator_data": response["authenticatorData"],
        "signature": response["signature"],
        "challenge_inputs": ceremony_inputs,
    }
    with pytest.raises(SigningError):
        reverify(signature)
    signature.assertion = signature.assertion | {"user_verified": False}
    reverify(signature)
