import pytest

from kaohe.ledger.models import Entry
from kaohe.ledger.testing import takes_the_log
from kaohe.notify.models import Notification
from kaohe.org.testing import PASSWORD
from kaohe.signing.actions import (
    SigningError,
    do_answer_dispute,
    do_begin_signing,
    do_dispute,
    do_sign,
)
from kaohe.signing.models import DisputeOutcome, DocumentState, Method
from kaohe.signing.testing import make_document, use_fake_renderer


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def test_she_disputes_and_hr_is_told(cast, django_capture_on_commit_callbacks):
    document = make_document(cast.amy)
    with django_capture_on_commit_callbacks(execute=True):
        dispute = do_dispute(cast.amy.user, document, "客户回款延迟，不是我的责任")
    document.refresh_from_db()
    assert document.state == DocumentState.DISPUTED
    assert Entry.objects.get(index=dispute.raised_entry).kind == "dispute.raised"
    assert Notification.objects.filter(user=cast.hazel, kind="document.disputed").exists()
    assert not Notification.objects.filter(user=cast.harry).exists()


def test_a_dispute_needs_a_reason_and_her_own_document(cast):
    document = make_document(cast.amy)
    with pytest.raises(SigningError):
        do_dispute(cast.amy.user, document, "   ")
    with pytest.raises(SigningError):
        do_dispute(cast.olga.user, document, "not mine")
    with pytest.raises(SigningError):
        do_dispute(cast.hazel, document, "HR cannot dispute")


def test_one_open_dispute_at_a_time(cast):
    document = make_document(cast.amy)
    do_dispute(cast.amy.user, document, "first")
    with pytest.raises(SigningError):
        do_dispute(cast.amy.user, document, "second")


def test_a_rejected_dispute_puts_the_document_back_before_her(cast):
    document = make_document(cast.amy)
    dispute = do_dispute(cast.amy.user, document, "wrong")
    answered = do_answer_dispute(cast.hazel, dispute, "数据核实无误", DisputeOutcome.REJECTED)
    document.refresh_from_db()
    assert answered.outcome == DisputeOutcome.REJECTED and document.state == DocumentState.PENDING
    assert Notification.objects.filter(user=cast.amy.user, kind="document.dispute_answered")
    with pytest.raises(SigningError):
        do_answer_dispute(cast.hazel, dispute, "again", DisputeOutcome.UPHELD)
    again = do_dispute(cast.amy.user, document, "still wrong")
    assert again.pk != dispute.pk


def test_an_upheld_dispute_waits_for_the_correction(cast):
    document = make_document(cast.amy)
    dispute = do_dispute(cast.amy.user, document, "wrong")
    do_answer_dispute(cast.hazel, dispute, "will fix", DisputeOutcome.UPHELD)
    document.refresh_from_db()
    assert document.state == DocumentState.DISPUTED
    correction = make_document(cast.amy, actor=cast.hazel, supersedes=document)
    document.refresh_from_db()
    assert document.state == DocumentState.SUPERSEDED and correction.state == DocumentState.PENDING


@pytest.mark.parametrize("who", ["harry", "olga", "audrey", "amy"])
def test_only_her_hr_answers(cast, who):
    document = make_document(cast.amy)
    dispute = do_dispute(cast.amy.user, document, "wrong")
    person = getattr(cast, who)
    with pytest.raises(SigningError):
        do_answer_dispute(getattr(person, "user", person), dispute, "no", DisputeOutcome.REJECTED)


def test_she_may_still_sign_a_disputed_document(cast):
    document = make_document(cast.amy)
    do_dispute(cast.amy.user, document, "wrong")
    ceremony, _options = do_begin_signing(cast.amy.user, document, Method.PASSWORD)
    do_sign(cast.amy.user, document, ceremony.public_id, password=PASSWORD)
    assert document.state == DocumentState.SIGNED


def test_a_bad_outcome_is_refused(cast):
    dispute = do_dispute(cast.amy.user, make_document(cast.amy), "wrong")
    with pytest.raises(SigningError):
        do_answer_dispute(cast.hazel, dispute, "x", "maybe")


def test_a_rejected_dispute_of_a_served_document_leaves_it_served(cast):
    from kaohe.lib import clock
    from kaohe.signing.actions import do_record_delivery

    document = make_document(cast.amy)
    do_record_delivery(cast.hazel, document, "courier", clock.today(), "EMS 1234", [])
    document.refresh_from_db()
    closed_at = document.closed_at
    dispute = do_dispute(cast.amy.user, document, "wrong")
    do_answer_dispute(cast.hazel, dispute, "数据核实无误", DisputeOutcome.REJECTED)
    document.refresh_from_db()
    assert document.state == DocumentState.SERVED and document.closed_at == closed_at


def test_the_ledger_entry_of_a_dispute_is_its_last_write(cast):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    document = make_document(cast.amy)
    with CaptureQueriesContext(connection) as queries:
        dispute = do_dispute(cast.amy.user, document, "wrong")
    sql = [q["sql"] for q in queries.captured_queries]
    claim = next(i for i, q in enumerate(sql) if takes_the_log(q))
    assert any('INSERT INTO "signing_dispute"' in q for q in sql[:claim])
    assert any("org_roleassignment" in q for q in sql[:claim])
    assert not any("signing_document" in q or "org_" in q for q in sql[claim:])
    assert Entry.objects.get(index=dispute.raised_entry).kind == "dispute.raised"
