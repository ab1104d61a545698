"""The alerts pages: the list with HR's summary per rule, one alert with its figures and
evidence, acknowledging and closing it, and the open alerts on the employee pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.alerts.models import Kind, Level, Status
from kaohe.alerts.testing import make_rule, raise_alert
from kaohe.ledger.models import Entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def below(cast):
    return make_rule(cast.ada)


@pytest.fixture
def amy_alert(below, cast):
    return raise_alert(below, cast.amy)


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- the list ------------------------------------------------------------------------------


def test_the_manager_sees_his_teams_alerts_and_no_one_elses(cast, client_for, amy_alert, below):
    raise_alert(below, cast.olga)
    body = text(client_for(cast.mike.user).get("/alerts/"))
    assert f"/alerts/{amy_alert.pk}/" in body and "艾米" in body
    assert "奥尔加" not in body
    assert 'id="alert-summary"' not in body  # the summary is HR's


def test_hr_sees_per_rule_how_many_employees_have_open_alerts(cast, client_for, below):
    raise_alert(below, cast.amy)
    raise_alert(below, cast.mike)
    raise_alert(below, cast.amy, "2026-01", status=Status.RESOLVED)
    raise_alert(below, cast.olga)  # another unit: not hazel's
    body = text(client_for(cast.hazel).get("/alerts/"))
    summary = body.split('id="alert-summary"')[1].split("</section>")[0]
    assert "2" in summary and below.name in summary
    assert "?status=open&amp;rule=below-80-2m" in summary


def test_filters_choose_status_level_and_rule(cast, client_for, below):
    silent = make_rule(
        cast.ada, "late-docs", name="目标书未确认", kind=Kind.UNCONFIRMED,
        params={"days": 3}, level=Level.REMINDER,
    )  # fmt: skip
    open_one = raise_alert(below, cast.amy)
    closed = raise_alert(below, cast.amy, "2026-01", status=Status.RESOLVED)
    reminder = raise_alert(silent, cast.amy, "agreement:1", figures={"period": "2026-Q1"})
    client = client_for(cast.hazel)

    def listed(**params) -> set[int]:
        body = text(client.get("/alerts/", params))
        return {a.pk for a in (open_one, closed, reminder) if f"/alerts/{a.pk}/" in body}

    assert listed() == {open_one.pk, reminder.pk}
    assert listed(status="all") == {open_one.pk, closed.pk, reminder.pk}
    assert listed(status="resolved") == {closed.pk}
    assert listed(level="reminder") == {reminder.pk}
    assert listed(rule="below-80-2m", status="all") == {open_one.pk, closed.pk}
    assert listed(level="nonsense", rule="") == {open_one.pk, reminder.pk}
    assert listed(rule="a\x00b") == set()


def test_an_htmx_request_gets_only_the_rows(cast, client_for, amy_alert):
    response = client_for(cast.hazel).get("/alerts/", headers={"HX-Request": "true"})
    assert "<html" not in text(response) and f"/alerts/{amy_alert.pk}/" in text(response)


def test_the_list_costs_the_same_queries_for_one_or_many_alerts(cast, client_for, below):
    client = client_for(cast.hazel)
    raise_alert(below, cast.amy)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get("/alerts/")
        return len(captured)

    few = queries()
    for month in range(3, 12):
        raise_alert(below, cast.mike, f"2026-{month:02d}")
    assert queries() == few


def test_source_alerts_are_the_hr_admins_only(cast, client_for):
    silent = make_rule(
        cast.ada, "crm-silent", name="CRM 无数据", kind=Kind.SOURCE_SILENT,
        params={"hours": 24}, recipients={},
    )  # fmt: skip
    alert = raise_alert(silent, None, "since:2026-03-01", figures={"source": "crm", "hours": 24})
    assert f"/alerts/{alert.pk}/" in text(client_for(cast.ada).get("/alerts/"))
    assert f"/alerts/{alert.pk}/" not in text(client_for(cast.hazel).get("/alerts/"))
    assert client_for(cast.hazel).get(f"/alerts/{alert.pk}/").status_code == 404
    assert "crm" in text(client_for(cast.ada).get(f"/alerts/{alert.pk}/"))


# --- one alert -----------------------------------------------------------------------------


def test_the_alert_shows_its_figures_rule_version_and_lifecycle(cast, client_for, amy_alert):
    body = text(client_for(cast.mike.user).get(f"/alerts/{amy_alert.pk}/"))
    assert "50.00%" in body and "70.00%" in body and "80%" in body
    assert "2026-01" in body and "2026-02" in body
    assert "below-80-2m" in body and 'id="acknowledge-form"' in body
    assert 'id="close-form"' in body


def test_outsiders_get_404_and_a_manager_above_reads_without_forms(cast, client_for, amy_alert):
    url = f"/alerts/{amy_alert.pk}/"
    for user in (cast.olga.user, cast.harry, cast.amy.user):
        assert client_for(user).get(url).status_code == 404
    assert (
        client_for(cast.olga.user).post(url + "acknowledge/", {"comment": "x"}).status_code == 404
    )
    dora = client_for(cast.dora.user)  # sees amy, but the rule tells one manager level only
    body = text(dora.get(url))
    assert "50.00%" in body and 'id="acknowledge-form"' not in body
    assert dora.post(url + "acknowledge/", {"comment": "看过了"}).status_code == 403
    assert client_for(cast.audrey).get(url).status_code == 200
    amy_alert.refresh_from_db()
    assert amy_alert.status == Status.NOTIFIED


def test_the_manager_acknowledges_with_a_comment_and_the_entry_is_listed(
    cast, client_for, amy_alert
):
    client = client_for(cast.mike.user)
    url = f"/alerts/{amy_alert.pk}/"
    response = client.post(url + "acknowledge/", {"comment": "已约谈，制定改进计划"})
    assert response.status_code == 302 and response.url == url
    amy_alert.refresh_from_db()
    assert amy_alert.status == Status.ACKNOWLEDGED and amy_alert.acknowledged_by == cast.mike.user
    entry = Entry.objects.get(kind="alerts.alert.acknowledged")
    body = text(client.get(url))
    assert "已约谈，制定改进计划" in body and f"/audit/entries/{entry.index}/" in body
    assert 'id="acknowledge-form"' not in body and 'id="close-form"' in body


def test_acknowledging_needs_a_comment(cast, client_for, amy_alert):
    response = client_for(cast.mike.user).post(
        f"/alerts/{amy_alert.pk}/acknowledge/", {"comment": " "}
    )
    assert response.status_code == 200 and 'class="errorlist' in text(response)
    amy_alert.refresh_from_db()
    assert amy_alert.status == Status.NOTIFIED


def test_hr_closes_the_alert_with_a_reason(cast, client_for, amy_alert):
    client = client_for(cast.hazel)
    response = client.post(f"/alerts/{amy_alert.pk}/close/", {"reason": "目标已调整"})
    assert response.status_code == 302
    amy_alert.refresh_from_db()
    assert amy_alert.status == Status.RESOLVED and amy_alert.resolution == "目标已调整"
    body = text(client.get(f"/alerts/{amy_alert.pk}/"))
    assert "目标已调整" in body and 'id="close-form"' not in body
    again = client.post(f"/alerts/{amy_alert.pk}/close/", {"reason": "再关"}, follow=True)
    assert again.status_code == 200 and 'class="msg msg-error"' in text(again)


def test_a_document_alert_shows_the_agreement_and_its_deadline(cast, client_for):
    rule = make_rule(cast.ada, "late-docs", kind=Kind.UNCONFIRMED, params={"days": 3})
    figures = {
        "document": "target_agreement", "agreement": "x", "period": "2026-Q1", "version": 1,
        "delivered_at": "2026-09-30T15:00:00+08:00", "days": 3, "day_kind": "working",
    }  # fmt: skip
    alert = raise_alert(rule, cast.amy, "agreement:1", figures=figures)
    body = text(client_for(cast.hazel).get(f"/alerts/{alert.pk}/"))
    assert "/people/E0003/targets/2026-Q1/" in body
    assert "2026-10-11 00:00" in body  # 3 working days after 30 September: make-up Saturday


def test_an_unsigned_result_alert_links_its_document(cast, client_for):
    from kaohe.signing.testing import make_document

    document = make_document(cast.amy, title="2026年第一季度绩效考核结果")
    rule = make_rule(
        cast.ada, "late-results", kind=Kind.UNCONFIRMED, params={"days": 3},
        recipients={"hr": True, "employee": True},
    )  # fmt: skip
    figures = {
        "document": "result", "document_id": str(document.public_id), "title": document.title,
        "delivered_at": "2026-09-30T15:00:00+08:00", "days": 3, "day_kind": "working",
    }  # fmt: skip
    alert = raise_alert(rule, cast.amy, f"document:{document.pk}", figures=figures)
    body = text(client_for(cast.hazel).get(f"/alerts/{alert.pk}/"))
    assert f"/documents/{document.public_id}/" in body and "2026年第一季度绩效考核结果" in body
    own = client_for(cast.amy.user).get(f"/alerts/{alert.pk}/")  # the rule tells her
    assert f"/app/documents/{document.public_id}/" in text(own)


# --- the employee pages ----------------------------------------------------------------------


def test_the_employee_page_lists_open_alerts_for_hr_and_manager(cast, client_for, amy_alert):
    for user in (cast.hazel, cast.mike.user):
        body = text(client_for(user).get("/people/E0003/"))
        assert 'id="open-alerts"' in body and f"/alerts/{amy_alert.pk}/" in body


def test_the_employee_sees_only_alerts_of_rules_that_tell_her(cast, client_for, amy_alert):
    client = client_for(cast.amy.user)
    assert 'id="open-alerts"' not in text(client.get("/me/"))
    telling = make_rule(
        cast.ada, "tell-amy", name="告知员工", recipients={"hr": True, "employee": True}
    )
    mine = raise_alert(telling, cast.amy)
    body = text(client.get("/me/"))
    assert f"/alerts/{mine.pk}/" in body and f"/alerts/{amy_alert.pk}/" not in body
    assert 'id="nav-alerts"' in body
    # She reads it, but neither acknowledges nor closes a warning about herself.
    page = text(client.get(f"/alerts/{mine.pk}/"))
    assert f"/alerts/{mine.pk}/" in page and 'id="acknowledge-form"' not in page
    assert client.post(f"/alerts/{mine.pk}/close/", {"reason": "not my fault"}).status_code in (
        403,
        404,
    )
    mine.refresh_from_db()
    assert mine.resolved_at is None


def test_the_alerts_link_is_offered_to_whoever_may_see_alerts(cast, client_for):
    assert 'id="nav-alerts"' in text(client_for(cast.mike.user).get("/me/"))
    assert 'id="nav-alerts"' in text(client_for(cast.hazel).get("/me/"))
    assert 'id="nav-alerts"' not in text(client_for(cast.olga.user).get("/me/"))


def test_people_who_have_left_neither_see_nor_close_nor_hear_of_alerts(cast, client_for, amy_alert):
    """HR partner Hazel leaves the company (her account stays, her employee record says
    terminated); so does Mike, Amy's manager: the next manager up hears instead."""
    from kaohe.alerts.recipients import recipients_for
    from kaohe.org.models import Employee, EmploymentStatus
    from kaohe.org.testing import make_employee

    former = make_employee("E0090", "黑泽", cast.east, status=EmploymentStatus.TERMINATED)
    Employee.objects.filter(pk=former.pk).update(user=cast.hazel)
    cast.hazel.refresh_from_db()
    client = client_for(cast.hazel)
    assert client.get(f"/alerts/{amy_alert.pk}/").status_code == 404
    assert client.post(f"/alerts/{amy_alert.pk}/close/", {"reason": "x"}).status_code in (403, 404)
    amy_alert.refresh_from_db()
    assert amy_alert.resolved_at is None
    cast.mike.status = EmploymentStatus.TERMINATED
    cast.mike.save()
    told = recipients_for(amy_alert.rule, cast.amy)
    accounts = {getattr(p, "user", p).username for p in told}
    assert "hazel" not in accounts and "mike" not in accounts and "dora" in accounts
