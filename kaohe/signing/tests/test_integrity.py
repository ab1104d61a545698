import datetime as dt
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from kaohe.lib import clock
from kaohe.signing.actions import (
    do_begin_registration,
    do_begin_signing,
    do_finish_registration,
    do_record_delivery,
    do_sign,
)
from kaohe.signing.integrity import check_document
from kaohe.signing.models import Attachment, Document, DocumentState, Letter, Method, Signature
from kaohe.signing.testing import SoftAuthenticator, make_document, use_fake_renderer


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


@pytest.fixture
def signed(cast, django_capture_on_commit_callbacks):
    user, key = cast.amy.user, SoftAuthenticator()
    ceremony, options = do_begin_registration(user)
    do_finish_registration(user, ceremony.public_id, key.create(options), "phone")
    document = make_document(cast.amy)
    with django_capture_on_commit_callbacks(execute=True):
        ceremony, options = do_begin_signing(user, document, Method.PASSKEY)
        do_sign(user, document, ceremony.public_id, assertion=key.get(options))
    return Document.objects.get(pk=document.pk)


def test_a_signed_document_agrees_with_the_ledger(signed):
    assert check_document(signed) == []
    assert Letter.objects.filter(document=signed).exists()
    out = io.StringIO()
    call_command("signing", "check", "--all", stdout=out)
    assert "1 document" in out.getvalue()


def _flip(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


DOCUMENT_CHANGES = {
    "data": lambda d, c: setattr(d, "data", d.data | {"title": "changed"}),
    "data_json": lambda d, c: setattr(d, "data_json", d.data_json.replace("62.50", "92.50")),
    "pdf": lambda d, c: setattr(d, "pdf", bytes(d.pdf) + b" "),
    "data_sha256": lambda d, c: setattr(d, "data_sha256", _flip(d.data_sha256)),
    "pdf_sha256": lambda d, c: setattr(d, "pdf_sha256", _flip(d.pdf_sha256)),
    "doc_sha256": lambda d, c: setattr(d, "doc_sha256", _flip(d.doc_sha256)),
    "employee": lambda d, c: setattr(d, "employee", c.olga),
    "kind": lambda d, c: setattr(d, "kind", "pip"),
    "title": lambda d, c: setattr(d, "title", "another title"),
    "source_type": lambda d, c: setattr(d, "source_type", "reviews.result"),
    "source_id": lambda d, c: setattr(d, "source_id", "999"),
    "due_at": lambda d, c: setattr(d, "due_at", d.issued_at + dt.timedelta(days=3)),
    "state": lambda d, c: setattr(d, "state", DocumentState.PENDING),
}


@pytest.mark.parametrize("field", DOCUMENT_CHANGES)
def test_a_changed_document_field_is_detected(cast, signed, field):
    DOCUMENT_CHANGES[field](signed, cast)
    signed.save()
    problems = check_document(Document.objects.get(pk=signed.pk))
    assert problems and all(str(signed.public_id) in p for p in problems)
    with pytest.raises(CommandError):
        call_command("signing", "check", str(signed.public_id), stderr=io.StringIO())


def _assertion(s, c):
    s.assertion = s.assertion | {"signature": s.assertion["signature"][:-4] + "AAAA"}


SIGNATURE_CHANGES = {
    "assertion": _assertion,
    "evidence": lambda s, c: setattr(s, "evidence", s.evidence | {"ip": "10.9.9.9"}),
    "method": lambda s, c: setattr(s, "method", Method.PASSWORD),
    "signed_at": lambda s, c: setattr(s, "signed_at", s.signed_at - dt.timedelta(days=1)),
    "ip": lambda s, c: setattr(s, "ip", "10.1.2.3"),
    "signer": lambda s, c: setattr(s, "signer", c.hazel),
    "user_agent": lambda s, c: setattr(s, "user_agent", "forged"),
    "receipt_index": lambda s, c: s.receipt["proof"].update(leaf_index=s.entry_index + 1),
    "receipt_hash": lambda s, c: s.receipt["proof"].update(leaf_hash="00" * 32),
}


@pytest.mark.parametrize("field", SIGNATURE_CHANGES)
def test_a_changed_signature_field_is_detected(cast, signed, field):
    signature = Signature.objects.get(document=signed)
    SIGNATURE_CHANGES[field](signature, cast)
    signature.save()
    problems = check_document(signed)
    assert problems, field


def test_a_changed_letter_is_detected(signed):
    letter = Letter.objects.get(document=signed)
    letter.pdf = bytes(letter.pdf) + b"%"
    letter.save()
    problems = check_document(signed)
    assert any("letter.pdf" in p for p in problems)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("signing", "check", "--all", stderr=err)
    assert "letter.pdf" in err.getvalue() and str(signed.public_id) in err.getvalue()


def test_the_command_wants_one_document_or_all(signed):
    with pytest.raises(CommandError):
        call_command("signing", "check")
    with pytest.raises(CommandError):
        call_command("signing", "check", "not-a-uuid")


def test_renaming_the_employee_raises_no_alarm(cast, signed):
    cast.amy.name = "王小美"
    cast.amy.save(update_fields=["name"])
    assert check_document(Document.objects.get(pk=signed.pk)) == []


def test_a_signed_state_without_a_signature_is_detected(cast):
    document = make_document(cast.amy)
    assert check_document(document) == []
    document.state = DocumentState.SIGNED
    document.save(update_fields=["state"])
    assert any("state" in p for p in check_document(document))


def test_a_due_date_given_in_another_zone_agrees(cast):
    due = dt.datetime(2026, 4, 30, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    document = make_document(cast.amy, due_at=due)
    assert check_document(Document.objects.get(pk=document.pk)) == []


@pytest.fixture
def served(cast):
    from django.core.files.uploadedfile import SimpleUploadedFile

    document = make_document(cast.amy)
    files = [SimpleUploadedFile("ems.pdf", b"%PDF receipt"), SimpleUploadedFile("a.jpg", b"jpg")]
    do_record_delivery(cast.hazel, document, "courier", clock.today(), "EMS 1", files)
    return Document.objects.get(pk=document.pk)


def _swap(a):
    a.content, a.sha256 = b"other", hashlib.sha256(b"other").hexdigest()


ATTACHMENT_CHANGES = {
    "content": lambda a: setattr(a, "content", b"forged"),
    "content_and_sha256": _swap,
    "name": lambda a: setattr(a, "name", "other.pdf"),
}


@pytest.mark.parametrize("change", ATTACHMENT_CHANGES)
def test_a_changed_attachment_is_detected(served, change):
    assert check_document(served) == []
    attachment = Attachment.objects.get(name="ems.pdf")
    ATTACHMENT_CHANGES[change](attachment)
    attachment.save()
    problems = check_document(served)
    assert problems and all(str(served.public_id) in p for p in problems)


def test_a_removed_attachment_is_detected(served):
    Attachment.objects.filter(name="a.jpg").delete()
    assert any("attachments" in p for p in check_document(served))
