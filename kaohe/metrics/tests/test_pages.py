"""The target agreement, attainment, bulk assignment and metric pages."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.ledger.models import Entry
from kaohe.lib.periods import Period
from kaohe.metrics.actions import (
    ItemSpec,
    do_draft_agreement,
    do_publish_agreement,
    do_revise_agreement,
    do_set_items,
)
from kaohe.metrics.models import Actual, AgreementState, Metric, TargetAgreement
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.testing import make_employee

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)
Q1 = Period.parse("2026-Q1")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def m(cast):
    return make_sales_metrics()


def agreement_for(cast, m, employee=None, amount="300000"):
    employee = employee or cast.amy
    version = do_draft_agreement(cast.ada, employee, Q1)
    do_set_items(cast.ada, version, [ItemSpec(m["sales_amount"], amount, "100")])
    return do_publish_agreement(cast.ada, version)


def sale(employee, metric, month: str, total: str):
    Actual.objects.create(
        employee=employee,
        metric=metric,
        month=dt.date.fromisoformat(f"{month}-01"),
        org_unit=employee.org_unit,
        total_e4=int(Decimal(total) * 10_000),
        count=1,
        updated_at=NOW,
    )


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def rows(prefix="items", **fields) -> dict:
    """POST data of an item formset: rows=[{"metric":..., "target":..., ...}]."""
    items = fields.pop("rows")
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(items)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "30",
    }
    for i, row in enumerate(items):
        for name, value in row.items():
            data[f"{prefix}-{i}-{name}"] = value
    return data | fields


# --- attainment on the employee pages ---------------------------------------------------------


def test_amy_sees_on_her_own_page_how_much_of_her_target_she_reached(cast, m, client_for):
    agreement_for(cast, m)
    sale(cast.amy, m["sales_amount"], "2026-01", "60000")
    sale(cast.amy, m["sales_amount"], "2026-02", "30000")
    page = text(client_for(cast.amy.user).get("/me/", headers={"Accept-Language": "en"}))
    assert "30% of target reached" in page or "已完成目标的30%" in page
    assert 'style="width: 30%"' in page
    assert "<svg" in page and "2026-Q1" in page


def test_the_phrase_is_chinese_by_default(cast, m, client_for):
    agreement_for(cast, m)
    sale(cast.amy, m["sales_amount"], "2026-01", "90000")
    page = text(client_for(cast.amy.user).get("/me/"))
    assert "已完成目标的30%" in page or "30% of target reached" in page


@pytest.mark.parametrize("who", ["hazel", "mike", "dora", "audrey"])
def test_hr_her_managers_and_the_auditor_see_amys_attainment(cast, m, client_for, who):
    agreement_for(cast, m)
    sale(cast.amy, m["sales_amount"], "2026-01", "90000")
    user = {
        "hazel": cast.hazel,
        "mike": cast.mike.user,
        "dora": cast.dora.user,
        "audrey": cast.audrey,
    }[who]
    page = text(client_for(user).get("/people/E0003/"))
    assert 'id="attainment"' in page and "90,000.00" in page


def test_the_period_switch_returns_the_section_alone(cast, m, client_for):
    agreement_for(cast, m)
    sale(cast.amy, m["sales_amount"], "2026-02", "50000")
    client = client_for(cast.mike.user)
    section = text(client.get("/people/E0003/attainment/?period=2026-02", HTTP_HX_REQUEST="true"))
    assert section.startswith('<section class="card attainment" id="attainment"')
    assert "50,000.00" in section and "100,000.00" in section  # a month's share of the quarter
    year = text(client.get("/people/E0003/attainment/?period=2026"))
    assert "2026" in year
    mine = text(client_for(cast.amy.user).get("/me/attainment/?period=2026-Q5"))
    assert "2026-Q1" in mine  # a bad label falls back to the current quarter


@pytest.mark.parametrize("who", ["olga", "harry"])
def test_outsiders_get_404_for_amys_attainment_and_agreements(cast, m, client_for, who):
    agreement_for(cast, m)
    client = client_for(cast.olga.user if who == "olga" else cast.harry)
    for url in (
        "/people/E0003/attainment/",
        "/people/E0003/targets/",
        "/people/E0003/targets/2026-Q1/",
    ):
        assert client.get(url).status_code == 404, url
    for action in ("publish", "revise", "discard"):
        assert client.post(f"/people/E0003/targets/2026-Q1/{action}/").status_code == 404


def test_an_employee_page_costs_the_same_queries_for_one_or_many_months_of_data(
    cast, m, client_for
):
    agreement_for(cast, m)
    client = client_for(cast.hazel)
    sale(cast.amy, m["sales_amount"], "2026-01", "1")
    url = "/people/E0003/attainment/?period=2026"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            text(client.get(url))
        return len(captured)

    few = queries()
    for month in range(2, 13):
        for metric in m.values():
            if metric.aggregation != "ratio":
                sale(cast.amy, metric, f"2026-{month:02d}", "9")
    assert queries() == few


# --- agreements -------------------------------------------------------------------------------


def test_a_manager_drafts_fills_and_publishes_an_agreement(cast, m, client_for):
    client = client_for(cast.mike.user)
    response = client.post("/people/E0003/targets/", {"period": "2026-Q1"})
    assert response.status_code == 302 and response.url == "/people/E0003/targets/2026-Q1/"
    page = text(client.get(response.url))
    assert 'name="items-0-metric"' in page and 'name="items-0-month_2026_01"' in page
    data = rows(
        rows=[
            {
                "metric": "sales_amount",
                "target": "300000",
                "weight": "70",
                "month_2026_01": "100000",
                "month_2026_02": "100000",
                "month_2026_03": "100000",
            },
            {"metric": "deals_signed", "target": "12", "weight": "30"},
            {"metric": "", "target": "", "weight": ""},
        ]
    )
    assert client.post(response.url, data).status_code == 302
    version = TargetAgreement.objects.get().versions.get()
    assert version.items.count() == 2
    assert client.post("/people/E0003/targets/2026-Q1/publish/").status_code == 302
    version.refresh_from_db()
    assert version.state == AgreementState.PUBLISHED
    page = text(client.get("/people/E0003/targets/2026-Q1/", headers={"Accept-Language": "en"}))
    assert "awaiting the employee" in page or "待员工确认" in page
    assert version.content_sha256 in page


def test_item_errors_come_back_on_their_row_and_nothing_is_saved(cast, m, client_for):
    client = client_for(cast.hazel)
    client.post("/people/E0003/targets/", {"period": "2026-Q1"})
    data = rows(
        rows=[
            {"metric": "sales_amount", "target": "abc", "weight": "70"},
            {"metric": "satisfaction", "target": "4.5", "weight": "30", "month_2026_01": "4.5"},
        ]
    )
    page = text(client.post("/people/E0003/targets/2026-Q1/", data))
    assert 'value="abc"' in page
    assert 'class="errorlist' in page  # the target of row 1
    assert '<div class="error" role="alert">' in page  # the split of row 2
    assert not TargetAgreement.objects.get().versions.get().items.exists()


def test_publishing_with_weights_not_adding_up_says_so(cast, m, client_for):
    client = client_for(cast.hazel)
    client.post("/people/E0003/targets/", {"period": "2026-Q1"})
    client.post(
        "/people/E0003/targets/2026-Q1/",
        rows(rows=[{"metric": "sales_amount", "target": "1", "weight": "60"}]),
    )
    page = text(client.post("/people/E0003/targets/2026-Q1/publish/", follow=True))
    assert "60" in page and 'class="msg msg-error"' in page
    assert TargetAgreement.objects.get().in_force is None


def test_a_revision_shows_what_changed_and_who_did_it(cast, m, client_for):
    first = agreement_for(cast, m)
    client = client_for(cast.hazel)
    response = client.post("/people/E0003/targets/2026-Q1/revise/", {"note": "市场变化"})
    assert response.status_code == 302
    client.post(
        "/people/E0003/targets/2026-Q1/",
        rows(rows=[{"metric": "sales_amount", "target": "250000", "weight": "100"}]),
    )
    client.post("/people/E0003/targets/2026-Q1/publish/")
    page = text(client.get("/people/E0003/targets/2026-Q1/", headers={"Accept-Language": "en"}))
    assert "市场变化" in page and "300000 → 250000" in page
    assert "hazel" in page and "ada" in page
    first.refresh_from_db()
    assert first.state == AgreementState.SUPERSEDED


def test_a_revision_without_a_reason_is_refused(cast, m, client_for):
    agreement_for(cast, m)
    page = text(
        client_for(cast.hazel).post(
            "/people/E0003/targets/2026-Q1/revise/", {"note": ""}, follow=True
        )
    )
    assert 'class="msg msg-error"' in page
    assert TargetAgreement.objects.get().versions.count() == 1


def test_discarding_the_first_draft_leads_back_to_the_list(cast, m, client_for):
    client = client_for(cast.hazel)
    client.post("/people/E0003/targets/", {"period": "2026-Q1"})
    response = client.post("/people/E0003/targets/2026-Q1/discard/")
    assert response.url == "/people/E0003/targets/"
    assert not TargetAgreement.objects.exists()


def test_amy_reads_her_agreement_but_cannot_change_it(cast, m, client_for):
    version = agreement_for(cast, m)
    do_revise_agreement(cast.ada, version.agreement, "调整")
    client = client_for(cast.amy.user)
    page = text(client.get("/people/E0003/targets/2026-Q1/"))
    assert "300000" in page and 'name="items-0-metric"' not in page
    assert client.post("/people/E0003/targets/", {"period": "2026-Q2"}).status_code == 403
    assert client.post("/people/E0003/targets/2026-Q1/publish/").status_code == 403
    assert client.post("/people/E0003/targets/2026-Q1/", rows(rows=[])).status_code == 403


def with_a_draft_in_progress(cast, m):
    """Q1 in force (300000) with a revision drafted (999999, and a reason); the year 2026
    only drafted."""
    version = agreement_for(cast, m)
    revision = do_revise_agreement(cast.ada, version.agreement, "大客户即将转给奥尔加")
    do_set_items(cast.ada, revision, [ItemSpec(m["sales_amount"], "999999", "100")])
    do_draft_agreement(cast.ada, cast.amy, "2026")


def reader(cast, who: str):
    return {"amy": cast.amy.user, "mike": cast.mike.user, "dora": cast.dora.user,
            "hazel": cast.hazel, "audrey": cast.audrey}[who]  # fmt: skip


@pytest.mark.parametrize("who", ["amy", "audrey"])
def test_the_employee_and_readers_who_may_not_edit_see_no_draft(cast, m, client_for, who):
    with_a_draft_in_progress(cast, m)
    client = client_for(reader(cast, who))
    page = text(client.get("/people/E0003/targets/2026-Q1/", headers={"Accept-Language": "en"}))
    assert "300000" in page
    assert "999999" not in page and "大客户即将转给奥尔加" not in page
    assert 'id="draft"' not in page and "Version 2" not in page
    listing = text(client.get("/people/E0003/targets/", headers={"Accept-Language": "en"}))
    assert "/people/E0003/targets/2026-Q1/" in listing
    assert "in preparation" not in listing and "/people/E0003/targets/2026/" not in listing
    assert client.get("/people/E0003/targets/2026/").status_code == 404


@pytest.mark.parametrize("who", ["mike", "dora", "hazel"])
def test_her_managers_and_her_hr_partner_see_and_edit_the_draft(cast, m, client_for, who):
    with_a_draft_in_progress(cast, m)
    client = client_for(reader(cast, who))
    page = text(client.get("/people/E0003/targets/2026-Q1/", headers={"Accept-Language": "en"}))
    assert "300000" in page and "999999" in page and "大客户即将转给奥尔加" in page
    assert 'id="draft"' in page and 'name="items-0-metric"' in page
    listing = text(client.get("/people/E0003/targets/", headers={"Accept-Language": "en"}))
    assert "in preparation" in listing and "/people/E0003/targets/2026/" in listing
    assert 'id="draft"' in text(client.get("/people/E0003/targets/2026/"))


def test_an_unknown_period_or_agreement_is_404(cast, m, client_for):
    client = client_for(cast.hazel)
    assert client.get("/people/E0003/targets/2026-Q9/").status_code == 404
    assert client.get("/people/E0003/targets/2026-Q2/").status_code == 404


def test_the_agreement_page_costs_the_same_queries_for_one_or_many_versions(cast, m, client_for):
    version = agreement_for(cast, m)
    client = client_for(cast.hazel)
    url = "/people/E0003/targets/2026-Q1/"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            text(client.get(url))
        return len(captured)

    do_revise_agreement(cast.ada, version.agreement, "one")
    few = queries()
    for n in range(4):
        draft = version.agreement.versions.get(state="draft")
        do_set_items(
            cast.ada,
            draft,
            [ItemSpec(m["sales_amount"], str(n + 1), "50"), ItemSpec(m["deals_signed"], "3", "50")],
        )
        do_publish_agreement(cast.ada, draft)
        do_revise_agreement(cast.ada, version.agreement, f"round {n}")
    assert queries() == few


def test_the_agreement_list_shows_each_period_and_its_state(cast, m, client_for):
    agreement_for(cast, m)
    do_draft_agreement(cast.ada, cast.amy, "2026")
    page = text(client_for(cast.mike.user).get("/people/E0003/targets/"))
    assert "/people/E0003/targets/2026-Q1/" in page and "/people/E0003/targets/2026/" in page


# --- bulk assignment --------------------------------------------------------------------------


def test_hr_assigns_the_same_targets_to_a_whole_unit(cast, m, client_for):
    make_employee("E0005", "小王", cast.east_sales, cast.mike)
    data = rows(
        period="2026-Q1",
        unit="EAST-S",
        numbers="",
        publish="on",
        note="",
        rows=[{"metric": "sales_amount", "target": "100000", "weight": "100"}],
    )
    response = client_for(cast.hazel).post("/targets/bulk/", data)
    assert response.status_code == 302
    published = TargetAgreement.objects.filter(in_force__isnull=False)
    assert sorted(a.employee.employee_no for a in published) == ["E0002", "E0003", "E0005"]


def test_bulk_assignment_names_each_refusal_and_writes_nothing(cast, m, client_for):
    agreement_for(cast, m)
    before = Entry.objects.count()
    data = rows(
        period="2026-Q1",
        unit="",
        numbers="E0003, E0002\nE0004",
        publish="on",
        note="",
        rows=[{"metric": "sales_amount", "target": "1", "weight": "100"}],
    )
    page = text(client_for(cast.hazel).post("/targets/bulk/", data))
    assert 'id="refusals"' in page and "E0004" in page
    assert TargetAgreement.objects.count() == 1 and Entry.objects.count() == before
    data["numbers"] = "E0003 E0002"
    page = text(client_for(cast.hazel).post("/targets/bulk/", data))
    assert 'id="refusals"' in page and "E0003" in page  # in force: needs a reason
    data["note"] = "统一调整"
    assert client_for(cast.hazel).post("/targets/bulk/", data).status_code == 302
    assert TargetAgreement.objects.get(employee=cast.amy).in_force.note == "统一调整"


@pytest.mark.parametrize("who", ["olga", "mike", "audrey"])
def test_only_hr_opens_the_bulk_page(cast, m, client_for, who):
    user = {"olga": cast.olga.user, "mike": cast.mike.user, "audrey": cast.audrey}[who]
    assert client_for(user).get("/targets/bulk/").status_code == 403


def test_harry_cannot_bulk_assign_to_east(cast, m, client_for):
    data = rows(
        period="2026-Q1",
        unit="EAST-S",
        numbers="",
        note="",
        rows=[{"metric": "sales_amount", "target": "1", "weight": "100"}],
    )
    client_for(cast.harry).post("/targets/bulk/", data)
    data["unit"], data["numbers"] = "", "E0003"
    page = text(client_for(cast.harry).post("/targets/bulk/", data))
    assert 'id="refusals"' in page
    assert not TargetAgreement.objects.exists()


# --- metrics ----------------------------------------------------------------------------------


def test_hr_reads_the_metrics_and_only_the_admin_may_edit(cast, m, client_for):
    assert "attendance_rate" in text(client_for(cast.harry).get("/settings/metrics/"))
    assert client_for(cast.olga.user).get("/settings/metrics/").status_code == 403
    assert client_for(cast.harry).get("/settings/metrics/new/").status_code == 403
    assert client_for(cast.hazel).get("/settings/metrics/sales_amount/").status_code == 403


def test_the_admin_creates_a_ratio_metric(cast, m, client_for):
    data = {
        "code": "win_rate",
        "name_zh": "赢单率",
        "name_en": "Win rate",
        "unit": "percent",
        "aggregation": "ratio",
        "direction": "higher",
        "numerator": "deals_signed",
        "denominator": "sales_amount",
        "sources": "",
        "decimal_places": "1",
        "active": "on",
    }
    response = client_for(cast.ada).post("/settings/metrics/new/", data)
    assert response.status_code == 302
    made = Metric.objects.get(code="win_rate")
    assert (made.numerator.code, made.decimal_places) == ("deals_signed", 1)


def test_a_refused_change_shows_on_its_field(cast, m, client_for):
    sale(cast.amy, m["sales_amount"], "2026-01", "1")
    data = {
        "name_zh": "销售额",
        "name_en": "Sales",
        "unit": "cny",
        "aggregation": "average",
        "direction": "higher",
        "numerator": "",
        "denominator": "",
        "sources": "crm",
        "decimal_places": "2",
        "active": "on",
    }
    page = text(client_for(cast.ada).post("/settings/metrics/sales_amount/", data))
    assert 'class="errorlist' in page
    assert Metric.objects.get(code="sales_amount").aggregation == "sum"
    data["aggregation"] = "sum"
    assert client_for(cast.ada).post("/settings/metrics/sales_amount/", data).status_code == 302
    assert Metric.objects.get(code="sales_amount").name_zh == "销售额"


def test_a_metric_in_force_cannot_be_taken_out_of_use_and_the_form_says_why(cast, m, client_for):
    agreement_for(cast, m)
    data = {
        "name_zh": "销售额",
        "name_en": "Sales",
        "unit": "cny",
        "aggregation": "sum",
        "direction": "lower",
        "numerator": "",
        "denominator": "",
        "sources": "crm",
        "decimal_places": "2",
    }  # "active" left out: unticked
    client = client_for(cast.ada)
    page = text(
        client.post("/settings/metrics/sales_amount/", data, headers={"Accept-Language": "en"})
    )
    assert "in force" in page and "new code" in page
    metric = Metric.objects.get(code="sales_amount")
    assert (metric.active, metric.direction, metric.name_zh) == (True, "higher", "sales_amount")


def test_the_metric_list_costs_the_same_queries_for_few_or_many(cast, m, client_for):
    client = client_for(cast.ada)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            text(client.get("/settings/metrics/"))
        return len(captured)

    few = queries()
    from kaohe.metrics.testing import make_metric

    for n in range(15):
        make_metric(f"extra_{n}")
    assert queries() == few
