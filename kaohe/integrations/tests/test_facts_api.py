import datetime as dt
import hashlib
import json
import math

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kaohe.integrations import idempotency
from kaohe.integrations.models import Delivery, IdempotentRequest, Source
from kaohe.integrations.tests.factories import actuals, deal, key_headers, make_source
from kaohe.metrics.models import Actual, Fact
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.actions import do_revoke_api_key
from kaohe.org.models import ApiKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/facts"
NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def crm(cast):
    make_sales_metrics()
    make_source("attendance")
    return make_source("crm")


@pytest.fixture
def headers(crm):
    return key_headers()


def post(client, headers, body, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en",
                       **headers, **extra)  # fmt: skip


def batch(*items, source="crm") -> dict:
    return {"source": source, "items": list(items)}


def total(employee="E0003", month=dt.date(2026, 1, 1)) -> tuple[int, int] | None:
    row = Actual.objects.filter(
        employee__employee_no=employee, metric__code="sales_amount", month=month
    ).values_list("total_e4", "count")
    return row.first()


# --- a batch goes in ------------------------------------------------------------------


def test_a_batch_is_applied_and_counted(client, headers):
    response = post(client, headers, batch(deal("D-1"), deal("D-2", "5000.50")))

    assert response.status_code == 200
    assert response.json() == {
        "source": "crm",
        "counts": {"created": 2, "updated": 0, "unchanged": 0, "voided": 0, "rejected": 0},
        "rejected": [],
    }
    assert Fact.objects.filter(source="crm").count() == 2
    assert total() == (1_300_005_000, 2)


def test_every_delivery_is_logged_with_its_counts_and_body(client, headers, crm):
    body = json.dumps(batch(deal("D-1"), deal("D-2", employee="E9999"))).encode()

    post(client, headers, body)

    delivery = Delivery.objects.get()
    assert (delivery.source, delivery.channel, delivery.outcome) == (crm, "api", "partly")
    assert (delivery.http_status, delivery.created, delivery.rejected) == (200, 1, 1)
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    assert delivery.body_bytes == len(body) and delivery.ip == "127.0.0.1"
    assert delivery.rejections[0]["field"] == "employee"
    crm.refresh_from_db()
    assert (crm.created, crm.rejected, crm.last_success_at) == (1, 1, NOW)


def test_a_changed_value_updates_and_a_void_withdraws(client, headers):
    post(client, headers, batch(deal("D-1", "100.00"), deal("D-2", "50.00")))

    changed = post(client, headers, batch(deal("D-1", "80.00"), {"external_id": "D-2",
                                                                 "void": True}))  # fmt: skip

    counts = changed.json()["counts"]
    assert (counts["updated"], counts["voided"]) == (1, 1)
    assert total() == (800_000, 1)


@pytest.mark.parametrize(
    ("item", "field", "code"),
    [
        (deal("X", employee="E9999"), "employee", "unknown"),
        ({**deal("X"), "metric": "no_such_metric"}, "metric", "unknown"),
        ({**deal("X"), "metric": "days_present"}, "metric", "source_not_allowed"),
        (deal("X", value="12,5x"), "value", "not_a_number"),
        (deal("X", value=True), "value", "type"),
        (deal("X", at="yesterday"), "occurred_at", "bad_time"),
        (deal("X", at="2026-01-15T10:00:00"), "occurred_at", "no_offset"),
        (deal("X", at="2026-03-12T10:00:00+08:00"), "occurred_at", "in_future"),
        (deal("X", value=None), "value", "missing"),
        ({"external_id": "X", "void": True}, "external_id", "unknown"),
        ("not an object", "", "type"),
        ({**deal("X"), "colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_a_faulty_item_is_rejected_and_the_others_apply(client, headers, item, field, code):
    response = post(client, headers, batch(deal("D-1"), item, deal("D-2")))

    assert response.status_code == 200
    result = response.json()
    assert result["counts"]["created"] == 2 and result["counts"]["rejected"] == 1
    [rejection] = result["rejected"]
    assert (rejection["index"], rejection["field"], rejection["code"]) == (1, field, code)
    assert rejection["message"]
    assert set(Fact.objects.values_list("external_id", flat=True)) == {"D-1", "D-2"}


def test_an_external_id_twice_in_a_batch_rejects_both_and_keeps_the_rest(client, headers):
    response = post(client, headers, batch(deal("D-1"), deal("D-2"), deal("D-1", "1.00")))

    rejected = response.json()["rejected"]
    assert [(r["index"], r["field"], r["code"]) for r in rejected] == [
        (0, "external_id", "duplicate"),
        (2, "external_id", "duplicate"),
    ]
    assert list(Fact.objects.values_list("external_id", flat=True)) == ["D-2"]


def test_rejections_read_in_the_language_of_the_request(client, headers):
    body = json.dumps(batch(deal("D-1", employee="E9999")))
    chinese = client.post(URL, body, content_type="application/json", **headers)
    english = post(client, headers, body)

    assert chinese.json()["rejected"][0]["message"] != english.json()["rejected"][0]["message"]
    assert english.json()["rejected"][0]["message"] == "There is no such employee."


def test_an_empty_batch_is_fine(client, headers):
    response = post(client, headers, batch())
    assert response.status_code == 200 and response.json()["counts"]["created"] == 0


# --- retries --------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_replays_the_first_answer(client, headers):
    body = batch(deal("D-1"), deal("D-2"))
    first = post(client, headers, body, HTTP_IDEMPOTENCY_KEY="batch-7")
    again = post(client, headers, body, HTTP_IDEMPOTENCY_KEY="batch-7")

    assert again.json() == first.json() and again["Idempotency-Replayed"] == "true"
    assert total() == (2_500_000_000, 2)
    assert Delivery.objects.count() == 1


def test_a_retry_without_a_key_counts_nothing_twice(client, headers, frozen):
    body = batch(deal("D-1"), deal("D-2", at="2026-02-01T00:00:00+08:00"))
    post(client, headers, body)
    before = actuals()
    frozen.shift(dt.timedelta(hours=1))

    again = post(client, headers, body)

    assert again.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "voided": 0,
                                      "rejected": 0}  # fmt: skip
    assert actuals() == before


def test_the_same_10000_item_batch_twice_leaves_every_actual_unchanged(client, headers, frozen):
    employees = ["E0001", "E0002", "E0003", "E0004"]
    months = ["2025-11", "2025-12", "2026-01"]
    items = [
        deal(f"D-{i:05d}", f"{i % 997}.{i % 100:02d}", employees[i % 4],
             f"{months[i % 3]}-{1 + i % 28:02d}T{i % 24:02d}:30:00+08:00")
        for i in range(10_000)
    ]  # fmt: skip
    first = post(client, headers, batch(*items))
    assert first.json()["counts"]["created"] == 10_000
    before = actuals()
    assert len(before) == 12
    frozen.shift(dt.timedelta(hours=1))

    second = post(client, headers, batch(*items))

    assert second.json()["counts"]["unchanged"] == 10_000
    assert actuals() == before


def test_a_claim_left_by_a_request_that_never_answered_is_taken_over_after_a_while(
    client, headers, frozen, rf
):
    body = json.dumps(batch(deal("D-1")))
    lost = rf.post(URL, body, content_type="application/json")  # its server was killed
    secret = headers["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    IdempotentRequest.objects.create(
        principal="key:" + hashlib.sha256(secret.encode()).hexdigest(),
        key="batch-9",
        fingerprint=idempotency._fingerprint(lost),
        created_at=NOW,
    )

    waiting = post(client, headers, body, HTTP_IDEMPOTENCY_KEY="batch-9")
    frozen.shift(idempotency.IN_FLIGHT_LEASE + dt.timedelta(seconds=1))
    retried = post(client, headers, body, HTTP_IDEMPOTENCY_KEY="batch-9")

    assert waiting.status_code == 409 and waiting["Retry-After"] == "1"
    assert retried.status_code == 200 and retried.json()["counts"]["created"] == 1


# --- refused as a whole ---------------------------------------------------------------


def assert_problem(response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    if slug:
        assert problem["type"].endswith("/" + slug)
    assert problem["detail"]
    return problem


def test_more_than_10000_items_is_413_and_nothing_applies(client, headers):
    items = [deal(f"D-{i}") for i in range(10_001)]

    problem = assert_problem(post(client, headers, batch(*items)), 413, "batch-too-large")

    assert "10000" in problem["detail"] and "10001" in problem["detail"]
    assert not Fact.objects.exists()
    assert Delivery.objects.get().outcome == "rejected"


def test_a_body_over_the_limit_is_413_before_it_is_read(client, headers, settings):
    settings.KAOHE_API_MAX_BODY_BYTES = 2_000
    body = batch(*(deal(f"D-{i}") for i in range(30)))

    problem = assert_problem(post(client, headers, body), 413, "body-too-large")

    assert "2,000" in problem["detail"]
    assert not Fact.objects.exists()


def test_a_body_over_djangos_limit_is_a_problem_with_or_without_a_key(client, headers, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    body = batch(*(deal(f"D-{i}") for i in range(30)))

    assert_problem(post(client, headers, body), 413, "body-too-large")
    assert_problem(post(client, headers, body, HTTP_IDEMPOTENCY_KEY="k"), 413, "body-too-large")
    assert not Fact.objects.exists()


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"source": "crm", "items": [\xff]}', b"[" * 100_000, b""]
)
def test_a_body_that_is_not_json_is_400(client, headers, body):
    problem = assert_problem(post(client, headers, body), 400)
    assert problem["detail"] == "The request body is not valid JSON."
    assert Delivery.objects.get().http_status == 400


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ([deal()], [""]),
        ({"items": []}, ["source"]),
        ({"source": 7, "items": []}, ["source"]),
        ({"source": "crm", "items": {"a": 1}}, ["items"]),
        ({"source": "crm"}, ["items"]),
        ({"source": "crm", "items": [], "mode": "fast"}, ["mode"]),
        ({"source": "erp", "items": [deal()]}, ["source"]),
    ],
)
def test_a_malformed_envelope_is_422_naming_the_field(client, headers, body, fields):
    problem = assert_problem(post(client, headers, body), 422)
    assert [error["field"] for error in problem["errors"]] == fields
    assert not Fact.objects.exists()


def test_an_inactive_source_is_422(client, headers, crm):
    Source.objects.filter(pk=crm.pk).update(active=False)
    problem = assert_problem(post(client, headers, batch(deal())), 422)
    assert problem["errors"][0]["field"] == "source"


# --- who may send ---------------------------------------------------------------------


def test_a_key_limited_to_other_sources_is_403(client, crm):
    headers = key_headers(sources=["attendance"])
    problem = assert_problem(post(client, headers, batch(deal())), 403)
    assert "crm" in problem["detail"]
    assert not Fact.objects.exists()


def test_a_key_limited_to_this_source_may_send_it(client, crm):
    headers = key_headers(sources=["crm"])
    assert post(client, headers, batch(deal())).status_code == 200


def test_a_key_without_the_facts_scope_is_403(client, crm):
    headers = key_headers(scopes=["employees:write"])
    problem = assert_problem(post(client, headers, batch(deal())), 403)
    assert "facts:write" in problem["detail"]


def test_no_key_or_a_revoked_key_is_401(client, crm, headers):
    assert_problem(post(client, {}, batch(deal())), 401)
    do_revoke_api_key(None, ApiKey.objects.get(), system=True)
    assert_problem(post(client, headers, batch(deal())), 401)
    assert not Fact.objects.exists()


def test_a_key_of_one_unit_cannot_send_facts_about_others(client, cast, crm):
    headers = key_headers(org_units=[cast.east])

    response = post(client, headers, batch(deal("D-1"), deal("D-2", employee="E0004")))

    assert response.json()["rejected"][0]["field"] == "employee"
    assert list(Fact.objects.values_list("external_id", flat=True)) == ["D-1"]


def test_a_signed_in_hr_admin_may_post_with_the_csrf_token(cast, crm):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.ada)
    client.get("/api/v1/docs")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    refused = post(client, {}, batch(deal("D-1")))
    accepted = post(client, {"HTTP_X_CSRFTOKEN": token}, batch(deal("D-1")))

    assert refused.status_code == 403
    assert accepted.status_code == 200 and accepted.json()["counts"]["created"] == 1


def test_a_form_upload_instead_of_json_is_400_not_a_crash(cast, crm):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.ada)
    client.get("/api/v1/docs")
    token = client.cookies["csrftoken"].value

    response = client.post(URL, {"source": "crm", "items": "x"}, HTTP_X_CSRFTOKEN=token)

    assert_problem(response, 400)
    assert not Fact.objects.exists()


@pytest.mark.parametrize("who", ["hazel", "mike", "amy"])
def test_other_signed_in_people_may_not_post_facts(cast, crm, client_for, who):
    person = getattr(cast, who)
    client = client_for(getattr(person, "user", person))
    problem = assert_problem(post(client, {}, batch(deal())), 403)
    assert problem["detail"] == "Only HR admins may send facts."
    assert not Fact.objects.exists()


# --- cost -----------------------------------------------------------------------------


def test_the_number_of_queries_does_not_grow_with_the_batch(client, headers):
    post(client, headers, batch(deal("warm-up")))

    def queries(size: int, prefix: str) -> int:
        items = [deal(f"{prefix}-{i}", employee=f"E000{1 + i % 4}") for i in range(size)]
        with CaptureQueriesContext(connection) as captured:
            assert post(client, headers, batch(*items)).json()["counts"]["created"] == size
        return len(captured)

    # At most, the facts go in as multi-row INSERTs of as many rows as the database takes
    # parameters for (SQLite: 999 parameters). Nothing else may depend on the size.
    fields = [f for f in Fact._meta.concrete_fields if not f.primary_key]
    per_insert = min(connection.ops.bulk_batch_size(fields, [None] * 1000), 1000)
    small, large = queries(5, "small"), queries(500, "large")
    assert large - small <= math.ceil(500 / per_insert) - 1


def test_the_schema_documents_the_endpoint(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/facts"]["post"]
    assert {"200", "400", "401", "403", "413", "422"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["items"]["maxItems"] == 10_000
    assert "batch-too-large" in operation["description"]
