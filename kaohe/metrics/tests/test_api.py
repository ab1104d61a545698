import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kaohe.lib.periods import Period
from kaohe.metrics.actions import ItemSpec, do_draft_agreement, do_publish_agreement, do_set_items
from kaohe.metrics.models import Actual, AgreementState, TargetAgreement
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.actions import do_create_api_key
from kaohe.org.testing import make_employee

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 2, 20, 2, 0, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def m(cast):
    return make_sales_metrics()


@pytest.fixture
def key(cast):
    def make(scopes=("targets:write",), units=()):
        _key, secret = do_create_api_key(None, "hris", list(scopes), list(units))
        return {"Authorization": f"Bearer {secret}"}

    return make


def put(headers_or_client, body, language="en"):
    client = headers_or_client if isinstance(headers_or_client, Client) else Client()
    headers = headers_or_client if isinstance(headers_or_client, dict) else {}
    return client.put("/api/v1/targets", body, content_type="application/json",
                      headers={**headers, "Accept-Language": language})  # fmt: skip


def target(employee="E0003", metric="sales_amount", period="2026-Q1", value="300000",
           **extra):  # fmt: skip
    return {"employee": employee, "metric": metric, "period": period, "value": value, **extra}


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


# --- PUT /targets ---------------------------------------------------------------------------


def test_a_batch_creates_drafts_per_employee_and_period(cast, m, key):
    body = ok(put(key(), {"items": [
        target(weight="70"),
        target(metric="deals_signed", value=12, weight=30),
        target(employee="E0004", period="2026", value="1200000.50"),
    ]}))  # fmt: skip
    assert body["counts"] == {"set": 3, "unchanged": 0, "rejected": 0}
    assert body["agreements"] == [
        {"employee": "E0003", "period": "2026-Q1", "version": 1, "state": "draft",
         "problem": None},
        {"employee": "E0004", "period": "2026", "version": 1, "state": "draft", "problem": None},
    ]  # fmt: skip
    amy = TargetAgreement.objects.get(employee=cast.amy).versions.get()
    assert sorted((i.metric.code, i.target, i.weight) for i in amy.items.all()) == [
        ("deals_signed", 12, 30),
        ("sales_amount", 300000, 70),
    ]


def test_publish_puts_the_agreements_in_force_or_says_why_not(cast, m, key):
    body = ok(put(key(), {"publish": True, "items": [
        target(weight="70"), target(metric="deals_signed", value="12", weight="30"),
        target(employee="E0004", weight="50"),
    ]}))  # fmt: skip
    amy, olga = body["agreements"]
    assert (amy["state"], amy["problem"]) == ("published", None)
    assert olga["state"] == "draft" and "50" in olga["problem"]
    assert TargetAgreement.objects.get(employee=cast.amy).in_force.number == 1


def test_sending_the_same_targets_again_changes_nothing(cast, m, key):
    batch = {"publish": True, "items": [target(weight="100")]}
    ok(put(key(), batch))
    again = ok(put(key(), batch))
    assert again["counts"] == {"set": 0, "unchanged": 1, "rejected": 0}
    assert again["agreements"][0]["version"] == 1
    assert TargetAgreement.objects.get().versions.count() == 1


def test_changing_an_agreement_in_force_needs_a_note_and_makes_a_new_version(cast, m, key):
    ok(put(key(), {"publish": True, "items": [target(weight="100")]}))
    refused = ok(put(key(), {"publish": True, "items": [target(value="200000")]}))
    assert refused["rejected"][0]["field"] == "note"
    body = ok(put(key(), {"publish": True, "note": "客户调整", "items": [target(value="200000")]}))
    assert body["agreements"][0] == {"employee": "E0003", "period": "2026-Q1", "version": 2,
                                     "state": "published", "problem": None}  # fmt: skip
    agreement = TargetAgreement.objects.get()
    assert agreement.in_force.note == "客户调整"
    assert agreement.in_force.items.get().weight == 100  # kept


@pytest.mark.parametrize(
    ("item", "field", "code"),
    [
        (target(employee="E9999"), "employee", "unknown"),
        (target(employee="E0003\x00"), "employee", "unknown"),
        (target(metric="nope"), "metric", "unknown"),
        (target(metric="deals\x00"), "metric", "unknown"),
        (target(period="2026-Q5"), "period", "invalid"),
        (target(period="1999"), "period", "invalid"),
        (target(value="abc"), "value", "invalid"),
        (target(value="-1"), "value", "invalid"),
        (target(value="1.23456"), "value", "invalid"),
        (target(value=1e20), "value", "invalid"),
        (target(weight="101"), "weight", "invalid"),
        (target(weight="1.234"), "weight", "invalid"),
    ],
)
def test_a_faulty_item_is_rejected_by_index_and_the_others_apply(cast, m, key, item, field, code):
    body = ok(put(key(), {"items": [target(metric="deals_signed", value="3"), item]}))
    assert body["counts"]["set"] == 1
    [rejection] = body["rejected"]
    assert (rejection["index"], rejection["field"], rejection["code"]) == (1, field, code)
    assert rejection["message"]


def test_the_same_target_twice_in_a_batch_is_rejected_both_times(cast, m, key):
    body = ok(put(key(), {"items": [target(), target(value="1"), target(metric="deals_signed")]}))
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(0, "duplicate"),
                                                                   (1, "duplicate")]  # fmt: skip
    assert body["counts"]["set"] == 1


def test_messages_follow_the_request_language(cast, m, key):
    body = ok(put(key(), {"items": [target(employee="E9999")]}, language="zh-hans"))
    assert body["rejected"][0]["message"] != "There is no such employee."


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"employee": 3, "metric": "x", "period": "2026", "value": "1"}]},
        {"items": [target(colour="red")]},
        {"items": [target(value=True)]},
        {"items": "all"},
        {"items": [], "publish": "yes"},
        {"items": [], "extra": 1},
        [],
    ],
)
def test_a_malformed_body_is_a_422_problem_naming_the_fault(cast, m, key, body):
    data = problem(put(key(), body), 422)
    assert data["errors"]


def test_a_key_without_the_targets_scope_is_refused(cast, m, key):
    problem(put(key(scopes=["employees:read"]), {"items": [target()]}), 403)
    assert not TargetAgreement.objects.exists()


def test_a_key_limited_to_south_cannot_reach_amy_and_cannot_tell_she_exists(cast, m, key):
    body = ok(put(key(units=[cast.south]), {"items": [target(), target(employee="E9999")]}))
    hidden, missing = body["rejected"]
    assert (hidden["code"], hidden["message"]) == (missing["code"], missing["message"])
    assert not TargetAgreement.objects.exists()


@pytest.mark.parametrize("who", ["olga", "harry", "amy"])
def test_outsiders_and_amy_herself_cannot_set_her_targets_by_session(cast, m, who, client_for):
    user = {"olga": cast.olga.user, "harry": cast.harry, "amy": cast.amy.user}[who]
    body = ok(put(client_for(user), {"items": [target()]}))
    assert body["rejected"][0]["code"] == "unknown"
    assert not TargetAgreement.objects.exists()


def test_her_manager_sets_amys_targets_through_his_session(cast, m, client_for):
    body = ok(put(client_for(cast.mike.user), {"items": [target()]}))
    assert body["counts"]["set"] == 1


def test_a_session_put_needs_the_csrf_token(cast, m):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.hazel)
    problem(put(client, {"items": [target()]}), 403)


def test_a_put_without_credentials_is_a_401(cast, m):
    problem(put({}, {"items": [target()]}), 401)


# --- GET /employees/{no}/attainment ---------------------------------------------------------


def amy_agreement(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Period.parse("2026-Q1"))
    do_set_items(cast.hazel, version, [ItemSpec(m["sales_amount"], "300000", "100")])
    return do_publish_agreement(cast.hazel, version)


def sale(employee, metric, month: str, total: str, unit=None):
    Actual.objects.create(
        employee=employee, metric=metric, month=dt.date.fromisoformat(f"{month}-01"),
        org_unit=unit or employee.org_unit, total_e4=int(Decimal(total) * 10_000), count=1,
        updated_at=NOW,
    )  # fmt: skip


def get(headers_or_client, url):
    if isinstance(headers_or_client, dict):
        return Client().get(url, headers=headers_or_client)
    return headers_or_client.get(url)


def test_attainment_shows_target_actual_and_score_per_month(cast, m, key):
    version = amy_agreement(cast, m)
    sale(cast.amy, m["sales_amount"], "2026-01", "60000")
    sale(cast.amy, m["sales_amount"], "2026-02", "30000")
    body = ok(get(key(["employees:read"]), "/api/v1/employees/E0003/attainment?period=2026-Q1"))
    assert body["agreement"] == {
        "id": str(version.agreement.public_id),
        "period": "2026-Q1",
        "version": 1,
        "published_at": "2026-02-20T02:00:00Z",
        "acknowledgement": "pending",
        "content_sha256": version.content_sha256,
    }
    assert (body["score"], body["covered_weight"]) == ("30.00", "100.00")
    [sales] = body["items"]
    assert (sales["target"], sales["actual"], sales["attainment"]) == (
        "300000.00", "90000.00", "30.00"
    )  # fmt: skip
    assert sales["months"][2] == {"period": "2026-03", "target": "100000.00", "actual": None,
                                  "attainment": None}  # fmt: skip


def test_attainment_defaults_to_the_current_quarter(cast, m, client_for):
    amy_agreement(cast, m)
    body = ok(get(client_for(cast.amy.user), "/api/v1/employees/E0003/attainment"))
    assert body["period"] == "2026-Q1"
    assert body["score"] == "0.00" and body["items"][0]["actual"] == "0.00"  # nothing sold
    ahead = ok(get(client_for(cast.amy.user), "/api/v1/employees/E0003/attainment?period=2026-Q3"))
    assert (ahead["agreement"], ahead["score"], ahead["items"]) == (None, None, [])


@pytest.mark.parametrize("who", ["olga", "harry"])
def test_outsiders_get_the_same_404_as_for_an_unknown_number(cast, m, client_for, who):
    amy_agreement(cast, m)
    client = client_for(cast.olga.user if who == "olga" else cast.harry)
    hidden = problem(get(client, "/api/v1/employees/E0003/attainment"), 404)
    missing = problem(get(client, "/api/v1/employees/E9999/attainment"), 404)
    assert hidden["detail"].replace("E0003", "") == missing["detail"].replace("E9999", "")


def test_a_key_of_another_unit_gets_404_and_one_without_the_read_scope_403(cast, m, key):
    problem(get(key(["employees:read"], [cast.south]), "/api/v1/employees/E0003/attainment"), 404)
    problem(get(key(["targets:write"]), "/api/v1/employees/E0003/attainment"), 403)


@pytest.mark.parametrize("period", ["2026-Q5", "1999", "2026-13", "26", "2026-q1"])
def test_a_bad_period_is_a_422(cast, m, key, period):
    url = f"/api/v1/employees/E0003/attainment?period={period}"
    problem(get(key(["employees:read"]), url), 422)


def test_attainment_costs_the_same_queries_for_a_few_or_many_months_of_data(cast, m, key):
    amy_agreement(cast, m)
    headers = key(["employees:read"])
    url = "/api/v1/employees/E0003/attainment?period=2026"
    sale(cast.amy, m["sales_amount"], "2026-01", "1")
    get(headers, url)  # the key's first use is recorded once a minute

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            ok(get(headers, url))
        return len(captured)

    few = queries()
    for month in range(2, 13):
        for metric in m.values():
            if metric.aggregation != "ratio":
                sale(cast.amy, metric, f"2026-{month:02d}", "7")
    assert queries() == few


# --- GET /metrics ---------------------------------------------------------------------------


def test_any_key_lists_the_metric_definitions(cast, m, key):
    body = ok(get(key(["facts:write"]), "/api/v1/metrics"))
    rate = next(item for item in body["items"] if item["code"] == "attendance_rate")
    assert rate == {
        "code": "attendance_rate", "name_zh": "attendance_rate", "name_en": "attendance_rate",
        "unit": "percent", "aggregation": "ratio", "direction": "higher",
        "numerator": "days_present", "denominator": "days_required", "sources": [],
        "decimal_places": 2, "active": True,
    }  # fmt: skip


def test_metrics_need_credentials(cast, m):
    problem(Client().get("/api/v1/metrics"), 401)


def test_listing_metrics_costs_one_query_whatever_their_number(cast, m, client_for):
    client = client_for(cast.olga.user)
    with CaptureQueriesContext(connection) as few:
        ok(client.get("/api/v1/metrics"))
    from kaohe.metrics.testing import make_metric

    for n in range(20):
        make_metric(f"extra_{n}")
    with CaptureQueriesContext(connection) as many:
        ok(client.get("/api/v1/metrics"))
    assert len(many) == len(few)


def test_a_new_employee_in_the_batch_is_drafted_by_a_company_wide_key(cast, m, key):
    make_employee("E0042", "王芳", cast.east_sales, cast.mike)
    body = ok(put(key(), {"items": [target(employee="E0042", weight="100")], "publish": True}))
    assert body["agreements"][0]["state"] == AgreementState.PUBLISHED
