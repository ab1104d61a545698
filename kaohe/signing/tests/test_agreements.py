import pytest

from kaohe.metrics.actions import (
    do_draft_agreement,
    do_publish_agreement,
    do_revise_agreement,
    do_set_items,
)
from kaohe.metrics.checks import ItemSpec
from kaohe.metrics.models import Acknowledgement
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.testing import PASSWORD
from kaohe.signing.actions import SigningError, do_begin_signing, do_sign
from kaohe.signing.agreements import SOURCE_TYPE, issue_agreement
from kaohe.signing.models import DocumentKind, DocumentState, Method
from kaohe.signing.testing import use_fake_renderer


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def items(m, amount="300000"):
    return [ItemSpec(m["sales_amount"], amount, "60"), ItemSpec(m["deals_signed"], "30", "40")]


def published(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, "2026-Q1")
    do_set_items(cast.hazel, version, items(m))
    return do_publish_agreement(cast.hazel, version)


def test_a_published_agreement_becomes_a_document(cast):
    version = published(cast, make_sales_metrics())
    document = issue_agreement(cast.hazel, version)
    assert document.kind == DocumentKind.AGREEMENT and document.source_type == SOURCE_TYPE
    assert document.title == "2026年第一季度业绩目标责任书"
    table = document.data["sections"][1]["table"]
    assert table["rows"][0][0] == "deals_signed" or table["rows"][0][0] == "sales_amount"
    assert document.data["period"]["end"] == "2026-03-31"
    assert issue_agreement(cast.hazel, version) == document


def test_signing_acknowledges_the_version(cast):
    version = published(cast, make_sales_metrics())
    document = issue_agreement(cast.hazel, version)
    ceremony, _options = do_begin_signing(cast.amy.user, document, Method.PASSWORD)
    do_sign(cast.amy.user, document, ceremony.public_id, password=PASSWORD)
    version.refresh_from_db()
    assert version.acknowledgement == Acknowledgement.ACKNOWLEDGED


def test_a_revised_version_supersedes_the_earlier_document(cast):
    m = make_sales_metrics()
    first = issue_agreement(cast.hazel, published(cast, m))
    draft = do_revise_agreement(cast.hazel, first_agreement(cast), "市场变化")
    do_set_items(cast.hazel, draft, items(m, amount="250000"))
    second = issue_agreement(cast.hazel, do_publish_agreement(cast.hazel, draft))
    first.refresh_from_db()
    assert first.state == DocumentState.SUPERSEDED and second.supersedes == first
    assert second.data["sections"][-1]["paragraphs"] == ["市场变化"]


def first_agreement(cast):
    return cast.amy.agreements.get()


def test_a_draft_is_not_issued(cast):
    version = do_draft_agreement(cast.hazel, cast.amy, "2026-Q1")
    with pytest.raises(SigningError):
        issue_agreement(cast.hazel, version)


def test_agreements_published_elsewhere_are_issued_once_by_the_scheduled_task(cast):
    from kaohe.signing.agreements import issue_pending
    from kaohe.signing.models import Document

    m = make_sales_metrics()
    first = published(cast, m)  # e.g. through PUT /api/v1/targets
    assert issue_pending() == 1
    assert issue_pending() == 0
    old = Document.objects.get(source_id=str(first.pk))
    revision = do_revise_agreement(cast.hazel, first.agreement, "目标下调")
    do_set_items(cast.hazel, revision, items(m, "200000"))
    do_publish_agreement(cast.hazel, revision)
    assert issue_pending() == 1
    old.refresh_from_db()
    new = Document.objects.get(source_id=str(revision.pk))
    assert old.state == DocumentState.SUPERSEDED and new.supersedes == old


def test_publishing_from_the_agreement_page_sends_it_to_the_employee_to_sign(
    cast, client_for, django_capture_on_commit_callbacks
):
    from kaohe.signing.models import Document

    version = do_draft_agreement(cast.hazel, cast.amy, "2026-Q1")
    do_set_items(cast.hazel, version, items(make_sales_metrics()))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(cast.hazel).post("/people/E0003/targets/2026-Q1/publish/")
    assert response.status_code == 302
    document = Document.objects.get(employee=cast.amy, kind=DocumentKind.AGREEMENT)
    assert document.state == DocumentState.PENDING and document.issued_by is None
