"""The HR cycle view, the result editor and the template editor in the browser's terms."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.ledger.models import Entry
from kaohe.org.testing import make_employee
from kaohe.reviews.actions import do_publish_standard, do_start_scoring
from kaohe.reviews.models import Cycle, ItemKind, Result, ResultState, Template
from kaohe.reviews.testing import give_sales, make_cycle, make_template, sales_metric
from kaohe.signing.models import DocumentState
from kaohe.signing.testing import use_fake_renderer

pytestmark = pytest.mark.django_db
BEFORE_Q1 = dt.datetime(2025, 12, 20, 2, tzinfo=dt.UTC)
AFTER_Q1 = dt.datetime(2026, 4, 2, 2, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 4, 30, 2, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fast_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


@pytest.fixture
def scoring_cycle(cast):
    with time_machine.travel(BEFORE_Q1, tick=False):
        cycle = make_cycle(cast)
        do_publish_standard(cast.ada, cycle)
    with time_machine.travel(AFTER_Q1, tick=False):
        give_sales(cast, [cast.amy, cast.mike, cast.dora], sold={"E0003": 90_000})
        do_start_scoring(cast.ada, cycle)
    return cycle


def _url(cycle, result=None, step=""):
    base = f"/cycles/{cycle.public_id}/"
    if result is not None:
        base += f"results/{result.public_id}/"
    return base + (f"{step}/" if step else "")


def _qualitative(result):
    return result.items.get(item__kind=ItemKind.QUALITATIVE).item_id


def test_the_manager_scores_amy_on_the_result_page(cast, client_for, scoring_cycle):
    amy = scoring_cycle.results.get(employee=cast.amy)
    client = client_for(cast.mike.user)
    page = client.get(_url(scoring_cycle, amy))
    assert page.status_code == 200 and b'class="score-form"' in page.content
    with time_machine.travel(AFTER_Q1, tick=False):
        response = client.post(
            _url(scoring_cycle, amy, "score"),
            {"item": _qualitative(amy), "score": "80", "comment": "团队合作好"},
        )
    assert response.status_code == 302
    amy.refresh_from_db()
    assert str(amy.total) == "86.00" and amy.grade == "A"
    page = client.get(_url(scoring_cycle, amy))
    assert b'data-version="2"' in page.content and "团队合作好" in page.content.decode()
    entry = Entry.objects.filter(kind="result.edited").order_by("index").last()
    assert '"ip":"127.0.0.1"' in entry.body and '"after":"80.00"' in entry.body


def test_a_bad_score_is_a_message_not_a_500(cast, client_for, scoring_cycle):
    amy = scoring_cycle.results.get(employee=cast.amy)
    client = client_for(cast.mike.user)
    for item in (_qualitative(amy), "x", "99999999999999999999", "²"):
        response = client.post(
            _url(scoring_cycle, amy, "score"), {"item": item, "score": "1e999", "comment": "x"}
        )
        assert response.status_code == 302
    assert amy.versions.count() == 1


def test_amy_cannot_open_her_own_result_in_the_editor(cast, client_for, scoring_cycle):
    amy = scoring_cycle.results.get(employee=cast.amy)
    client = client_for(cast.amy.user)
    assert client.get(_url(scoring_cycle, amy)).status_code == 404
    assert client.get(_url(scoring_cycle)).status_code == 404
    assert client.get("/cycles/").status_code == 403


def test_the_cycle_page_counts_documents_and_warns_of_the_unconfirmed(
    cast, client_for, scoring_cycle
):
    with time_machine.travel(AFTER_Q1, tick=False):
        for result in scoring_cycle.results.all():
            client_for(cast.hazel).post(
                _url(scoring_cycle, result, "adjust"),
                {"item": _qualitative(result), "score": "70", "reason": "校准"},
            )
        response = client_for(cast.hazel).post(_url(scoring_cycle, step="publish"))
    assert response.status_code == 302
    assert scoring_cycle.results.filter(state=ResultState.PUBLISHED).count() == 3
    amy = scoring_cycle.results.get(employee=cast.amy)
    amy.document.state = DocumentState.SIGNED
    amy.document.save(update_fields=["state"])
    with time_machine.travel(LATER, tick=False):
        page = client_for(cast.hazel).get(_url(scoring_cycle))
    body = page.content.decode()
    assert 'id="unconfirmed-banner" data-count="2"' in body
    assert 'data-status="signed" data-count="1"' in body
    assert 'data-status="overdue" data-count="2"' in body
    assert f"/documents/{amy.document.public_id}/" in body
    with time_machine.travel(LATER, tick=False):
        signed = client_for(cast.hazel).get(_url(scoring_cycle) + "?status=signed")
    assert signed.content.decode().count("data-result=") == 1


def test_the_cycle_page_query_count_does_not_grow_with_results(cast, client_for, scoring_cycle):
    client = client_for(cast.hazel)
    client.get(_url(scoring_cycle))
    with CaptureQueriesContext(connection) as three:
        client.get(_url(scoring_cycle))
    for n in range(5, 9):
        person = make_employee(f"E000{n}", f"员工{n}", cast.east_sales, cast.mike)
        Result.objects.create(cycle=scoring_cycle, employee=person, org_unit=cast.east_sales)
    with CaptureQueriesContext(connection) as seven:
        client.get(_url(scoring_cycle))
    assert len(seven.captured_queries) == len(three.captured_queries)


def test_managers_see_only_their_subtree_in_the_cycle(cast, client_for, scoring_cycle):
    page = client_for(cast.mike.user).get(_url(scoring_cycle)).content.decode()
    assert "E0003" in page and "E0001" not in page and "E0002" not in page


def test_hr_creates_a_cycle_and_a_template_from_the_forms(cast, client_for):
    metric = sales_metric()
    client = client_for(cast.hazel)
    response = client.post("/templates/new/", {
        "name": "新模板", "cap_percent": "120", "grade-0": "合格", "min-0": "60",
        "grade-1": "不合格", "item-0-name": "销售额", "item-0-metric": metric.pk,
        "item-0-weight": "70", "item-1-name": "态度", "item-1-weight": "30",
    })  # fmt: skip
    assert response.status_code == 302
    template = Template.objects.get(name="新模板")
    assert template.scale == [{"grade": "合格", "min": "60.00"}, {"grade": "不合格", "min": None}]
    response = client.post("/cycles/new/", {
        "name": "华东Q2", "period": "2026-Q2", "template": template.pk,
        "org_units": [cast.east_sales.pk], "signing_days": "5",
    })  # fmt: skip
    assert response.status_code == 302
    assert Cycle.objects.get(name="华东Q2").period.label == "2026-Q2"


def test_a_template_whose_weights_miss_100_is_refused_with_a_message(cast, client_for):
    response = client_for(cast.ada).post("/templates/new/", {
        "name": "坏模板", "grade-0": "A", "min-0": "60", "grade-1": "B",
        "item-0-name": "态度", "item-0-weight": "30", "cap_percent": "²",
    })  # fmt: skip
    assert response.status_code == 200 and b'id="template-errors"' in response.content
    assert not Template.objects.filter(name="坏模板").exists()


def test_editing_a_frozen_template_makes_a_new_one(cast, client_for):
    template = make_template(cast.ada)
    with time_machine.travel(BEFORE_Q1, tick=False):
        do_publish_standard(cast.ada, make_cycle(cast, template))
    response = client_for(cast.ada).post(f"/templates/{template.public_id}/", {
        "name": "销售季度考核 v2", "cap_percent": "110", "grade-0": "A", "min-0": "60",
        "grade-1": "B", "item-0-name": "态度", "item-0-weight": "100",
    })  # fmt: skip
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.name == "销售季度考核" and template.items.count() == 2
    assert Template.objects.get(name="销售季度考核 v2").based_on == template


def test_publishing_one_result_from_its_page(cast, client_for, scoring_cycle):
    amy = scoring_cycle.results.get(employee=cast.amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        client_for(cast.mike.user).post(
            _url(scoring_cycle, amy, "score"),
            {"item": _qualitative(amy), "score": "80", "comment": "好"},
        )
        client_for(cast.hazel).post(_url(scoring_cycle, amy, "publish"))
    amy.refresh_from_db()
    assert amy.state == ResultState.PUBLISHED and amy.document is not None


def _score_everyone(cast, cycle):
    from kaohe.reviews.actions import do_adjust_item

    for result in cycle.results.all():
        do_adjust_item(cast.hazel, result, _qualitative(result), "70", "HR按面谈记录评分")


def test_a_large_cycle_publishes_in_the_background_in_chunks_and_tells_hr(
    cast, client_for, scoring_cycle, monkeypatch, django_capture_on_commit_callbacks
):
    from kaohe.notify.models import Notification
    from kaohe.reviews import jobs

    monkeypatch.setattr(jobs, "BACKGROUND_FROM", 2)
    monkeypatch.setattr(jobs, "CHUNK", 2)  # three results: two transactions
    client = client_for(cast.hazel)
    with time_machine.travel(AFTER_Q1, tick=False):
        _score_everyone(cast, scoring_cycle)
        Cycle.objects.filter(pk=scoring_cycle.pk).update(job="fill")  # another step runs
        busy = client.post(_url(scoring_cycle, step="publish"), follow=True)
        assert 'class="msg msg-error"' in busy.content.decode()
        assert 'id="cycle-job"' in busy.content.decode()  # the page shows the running step
        Cycle.objects.filter(pk=scoring_cycle.pk).update(job="")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(_url(scoring_cycle, step="publish"), follow=True)
    assert response.status_code == 200
    assert set(scoring_cycle.results.values_list("state", flat=True)) == {ResultState.PUBLISHED}
    scoring_cycle.refresh_from_db()
    assert scoring_cycle.job == "" and scoring_cycle.job_error == ""
    assert scoring_cycle.state == "results_published"
    assert Notification.objects.filter(user=cast.hazel, kind="reviews.step").exists()


def test_a_background_step_that_is_refused_says_why_on_the_cycle_page(
    cast, client_for, scoring_cycle, monkeypatch, django_capture_on_commit_callbacks
):
    from kaohe.reviews import jobs

    monkeypatch.setattr(jobs, "BACKGROUND_FROM", 2)
    client = client_for(cast.hazel)
    # Nobody scored the qualitative items: refused before anything is enqueued.
    with time_machine.travel(AFTER_Q1, tick=False):
        refused = client.post(_url(scoring_cycle, step="publish"), follow=True)
    assert 'class="msg msg-error"' in refused.content.decode()
    assert not scoring_cycle.results.filter(state=ResultState.PUBLISHED).exists()
    # A step that fails in the worker leaves its reason on the page and frees the cycle.
    jobs.start(cast.hazel, scoring_cycle, "close")
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_step.call("close", scoring_cycle.pk, cast.olga.user.pk)
    page = client.get(_url(scoring_cycle)).content.decode()
    assert 'id="cycle-job-error"' in page
    scoring_cycle.refresh_from_db()
    assert scoring_cycle.job == ""


def test_a_manager_cannot_claim_a_large_cycles_step_and_a_lost_claim_expires(
    cast, client_for, scoring_cycle, monkeypatch
):
    from kaohe.reviews import jobs

    monkeypatch.setattr(jobs, "BACKGROUND_FROM", 2)
    refused = client_for(cast.mike.user).post(_url(scoring_cycle, step="fill"), follow=True)
    assert 'class="msg msg-error"' in refused.content.decode()
    scoring_cycle.refresh_from_db()
    assert scoring_cycle.job == ""
    # A claim whose worker was stopped an hour ago no longer blocks HR.
    lost = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    Cycle.objects.filter(pk=scoring_cycle.pk).update(job="fill", job_started_at=lost)
    with time_machine.travel(LATER, tick=False):
        scoring_cycle.refresh_from_db()
        assert not jobs.busy(scoring_cycle)
        jobs.start(cast.hazel, scoring_cycle, "close")
    scoring_cycle.refresh_from_db()
    assert scoring_cycle.job == "close"


def test_a_large_cycles_standard_is_published_in_chunks_and_resumes_after_a_stop(
    cast, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    from kaohe.reviews import actions, jobs
    from kaohe.signing.models import Document, DocumentKind

    monkeypatch.setattr(jobs, "BACKGROUND_FROM", 2)
    monkeypatch.setattr(jobs, "CHUNK", 2)
    with time_machine.travel(BEFORE_Q1, tick=False):
        cycle = make_cycle(cast)
        # A worker stopped after the first chunk: the population is taken, two have it.
        with django_capture_on_commit_callbacks(execute=True):
            cycle, template = actions.take_population(cast.ada, cycle)
            first = list(cycle.results.order_by("pk")[:2])
            actions.issue_standards(cast.ada, cycle, template, first)
        with django_capture_on_commit_callbacks(execute=True):
            page = client_for(cast.hazel).post(_url(cycle, step="standard"), follow=True)
    assert page.status_code == 200
    cycle.refresh_from_db()
    assert cycle.state == "standard_published" and cycle.job == ""
    standards = Document.objects.filter(kind=DocumentKind.STANDARD)
    assert standards.count() == cycle.results.count() == 3  # none issued twice
    assert not cycle.results.filter(standard_document__isnull=True).exists()
    assert Entry.objects.filter(kind="cycle.standard_published").count() == 1
