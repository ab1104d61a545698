import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kaohe.lib import clock
from kaohe.signing.actions import do_dispute
from kaohe.signing.models import AlternativeDelivery, DisputeOutcome, DocumentState
from kaohe.signing.testing import make_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(cast):
    return make_document(cast.amy)


def url(name: str, document, **kw) -> str:
    return reverse(f"front:{name}", kwargs={"document_id": document.public_id, **kw})


def test_hr_of_the_unit_sees_the_page_with_its_actions(cast, client_for, document):
    response = client_for(cast.hazel).get(url("document_detail", document))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-state="pending"' in page
    assert 'id="withdraw-form"' in page and 'id="delivery-form"' in page
    assert 'data-kind="document.issued"' in page
    assert document.doc_sha256 in page


@pytest.mark.parametrize("who", ["mike", "audrey"])
def test_the_manager_and_the_auditor_read_it_without_actions(cast, client_for, document, who):
    user = getattr(cast, who)
    response = client_for(getattr(user, "user", user)).get(url("document_detail", document))
    assert response.status_code == 200
    assert 'id="withdraw-form"' not in response.content.decode()


@pytest.mark.parametrize("who", ["olga", "harry"])
def test_outsiders_get_nothing(cast, client_for, document, who):
    user = getattr(cast, who)
    client = client_for(getattr(user, "user", user))
    for name in ["document_detail", "document_pdf", "document_letter", "document_receipt"]:
        assert client.get(url(name, document)).status_code == 404
    for name in ["document_answer", "document_deliver", "document_withdraw"]:
        assert client.post(url(name, document), {"reason": "x"}).status_code == 404
    document.refresh_from_db()
    assert document.state == DocumentState.PENDING


def test_the_employee_herself_may_not_act_as_hr(cast, client_for, document):
    client = client_for(cast.amy.user)
    posts = {
        "document_withdraw": {"reason": "no"},
        "document_deliver": {"method": "email", "delivered_on": "2026-01-05", "note": "x"},
        "document_answer": {"answer": "x", "outcome": DisputeOutcome.REJECTED},
    }
    for name, data in posts.items():
        assert client.post(url(name, document), data).status_code == 403
    document.refresh_from_db()
    assert document.state == DocumentState.PENDING
    assert not AlternativeDelivery.objects.exists()


def test_hr_withdraws_with_a_reason(cast, client_for, document):
    client = client_for(cast.hazel)
    response = client.post(url("document_withdraw", document), {"reason": "数据有误"})
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.state == DocumentState.WITHDRAWN
    page = client.get(url("document_detail", document)).content.decode()
    assert 'data-kind="document.withdrawn"' in page
    assert 'id="withdraw-form"' not in page


def test_a_withdrawal_without_reason_is_a_form_error(cast, client_for, document):
    response = client_for(cast.hazel).post(url("document_withdraw", document), {"reason": " "})
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    document.refresh_from_db()
    assert document.state == DocumentState.PENDING


def test_hr_answers_a_dispute_and_the_outcome_shows(cast, client_for, document):
    do_dispute(cast.amy.user, document, "销售额统计遗漏了三月的订单")
    client = client_for(cast.hazel)
    page = client.get(url("document_detail", document)).content.decode()
    assert 'id="answer-form"' in page
    data = {"answer": "已核对，数据无误。", "outcome": DisputeOutcome.REJECTED}
    assert client.post(url("document_answer", document), data).status_code == 302
    document.refresh_from_db()
    assert document.state == DocumentState.PENDING
    page = client.get(url("document_detail", document)).content.decode()
    assert 'data-outcome="rejected"' in page
    assert "已核对，数据无误。" in page
    assert 'id="answer-form"' not in page


def test_an_answer_without_outcome_is_a_form_error(cast, client_for, document):
    do_dispute(cast.amy.user, document, "不同意")
    client = client_for(cast.hazel)
    response = client.post(url("document_answer", document), {"answer": "x"})
    assert response.status_code == 400
    assert document.disputes.get().answered_at is None


def test_answering_without_an_open_dispute_is_a_form_error(cast, client_for, document):
    data = {"answer": "x", "outcome": DisputeOutcome.UPHELD}
    response = client_for(cast.hazel).post(url("document_answer", document), data)
    assert response.status_code == 400


def test_hr_records_a_delivery_with_attachments(cast, client_for, document):
    client = client_for(cast.hazel)
    receipt = SimpleUploadedFile("快递单.jpg", b"\xff\xd8jpeg", content_type="image/jpeg")
    data = {"method": "courier", "delivered_on": clock.today().isoformat(),
            "note": "EMS 1234567890", "files": [receipt]}  # fmt: skip
    assert client.post(url("document_deliver", document), data).status_code == 302
    document.refresh_from_db()
    assert document.state == DocumentState.SERVED
    attachment = document.alternative_deliveries.get().attachments.get()
    page = client.get(url("document_detail", document)).content.decode()
    assert 'data-method="courier"' in page and "EMS 1234567890" in page
    download = client.get(url("document_attachment", document, attachment_id=attachment.pk))
    assert download.status_code == 200 and download.content == b"\xff\xd8jpeg"
    olga = client_for(cast.olga.user)
    link = url("document_attachment", document, attachment_id=attachment.pk)
    assert olga.get(link).status_code == 404


def test_a_delivery_dated_in_the_future_is_a_form_error(cast, client_for, document):
    later = (clock.today() + dt.timedelta(days=3)).isoformat()
    data = {"method": "email", "delivered_on": later, "note": "sent"}
    response = client_for(cast.hazel).post(url("document_deliver", document), data)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not AlternativeDelivery.objects.exists()


def test_the_pdf_downloads_and_missing_letter_or_receipt_are_404(cast, client_for, document):
    client = client_for(cast.hazel)
    response = client.get(url("document_pdf", document))
    assert response.status_code == 200
    assert response.content == bytes(document.pdf)
    assert response["Content-Type"] == "application/pdf"
    assert client.get(url("document_letter", document)).status_code == 404
    assert client.get(url("document_receipt", document)).status_code == 404


def test_a_signed_document_shows_its_evidence_and_offers_letter_and_receipt(
    cast, client_for, document, django_capture_on_commit_callbacks
):
    from kaohe.org.testing import PASSWORD
    from kaohe.signing.actions import do_begin_signing, do_sign
    from kaohe.signing.models import Method

    user = cast.amy.user
    ceremony, _options = do_begin_signing(user, document, Method.PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        signature = do_sign(user, document, ceremony.public_id, password=PASSWORD)
    client = client_for(cast.hazel)
    page = client.get(url("document_detail", document)).content.decode()
    assert 'data-method="password"' in page
    assert reverse("front:ledger_entry", args=[signature.entry_index]) in page
    letter = client.get(url("document_letter", document))
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")
    receipt = client.get(url("document_receipt", document))
    assert (
        receipt.status_code == 200
        and receipt.json()["proof"]["leaf_index"] == signature.entry_index
    )


def test_a_signed_document_offers_no_other_delivery_and_names_its_events(
    cast, client_for, document
):
    from kaohe.org.testing import PASSWORD
    from kaohe.signing.actions import do_begin_signing, do_sign
    from kaohe.signing.models import Method

    ceremony, _options = do_begin_signing(cast.amy.user, document, Method.PASSWORD)
    do_sign(cast.amy.user, document, ceremony.public_id, password=PASSWORD)
    page = client_for(cast.hazel).get(url("document_detail", document)).content.decode()
    assert 'id="delivery-form"' not in page and 'data-state="signed"' in page
    assert ">document.signed<" not in page  # the event's readable name, not its code


def test_files_are_not_cached_and_the_employee_sees_only_her_own_requests(
    cast, client_for, document
):
    from django.test import Client

    hr = Client(HTTP_USER_AGENT="HR-Browser/1.0", REMOTE_ADDR="10.0.0.9")
    hr.force_login(cast.hazel)
    hr.post(
        url("document_deliver", document),
        {"method": "courier", "delivered_on": "2026-04-10", "note": "EMS 1234"},
    )
    response = client_for(cast.hazel).get(url("document_pdf", document))
    assert response["Cache-Control"] == "private, no-store"
    hr_page = client_for(cast.hazel).get(url("document_detail", document)).content.decode()
    assert "HR-Browser/1.0" in hr_page
    own = client_for(cast.amy.user).get(url("document_detail", document))
    assert own.status_code == 200 and "HR-Browser/1.0" not in own.content.decode()
