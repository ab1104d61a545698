"""POST /api/v1/hooks/<source>: signed webhooks read with the source's field mapping.

The DingTalk body follows 钉钉开发文档《获取打卡结果》(/attendance/list)
https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm, the WeCom body 企业微信开发者中心
《获取打卡记录数据》 https://developer.work.weixin.qq.com/document/path/90262 (see
vendor_samples.py).
"""

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client

from kaohe.integrations.actions import do_create_source, do_rotate_webhook_secret
from kaohe.integrations.hooks import sign
from kaohe.integrations.models import Delivery, Outcome, Source
from kaohe.integrations.tests.vendor_samples import DINGTALK_LIST, WECOM_CHECKINDATA
from kaohe.metrics.models import Actual, Fact
from kaohe.metrics.testing import make_sales_metrics

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
T = int(NOW.timestamp())


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def source(cast):
    make_sales_metrics()  # days_present may come from the source "attendance"
    source = do_create_source(cast.ada, "attendance", "钉钉考勤", preset="dingtalk_attendance")
    source.mapping["tables"]["employees"] = {"manager3451": "E0003"}
    source.save(update_fields=["mapping"])
    source.secret = do_rotate_webhook_secret(cast.ada, source)
    return source


def post(path="/api/v1/hooks/attendance", body=None, *, secret=None, t=T, header=None,
         client=None, **extra):  # fmt: skip
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    if header is None and secret is not None:
        header = sign(secret, t, raw)
    headers = {"HTTP_X_KAOHE_SIGNATURE": header} if header is not None else {}
    client = client or Client()
    # The log's reasons are written in the request's language; the tests read English.
    return client.post(path, raw, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en",
                       **headers, **extra)  # fmt: skip


def last_delivery() -> Delivery:
    return Delivery.objects.order_by("-id").first()


def test_it_takes_a_signed_dingtalk_body_and_counts_the_days(source):
    response = post(body=DINGTALK_LIST, secret=source.secret)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "voided": 0,
                              "rejected": 0, "skipped": 3}  # fmt: skip
    assert data["rejected"] == []
    days = Fact.objects.filter(source="attendance", employee__employee_no="E0003")
    assert days.count() == 2
    actual = Actual.objects.get(employee__employee_no="E0003", metric__code="days_present")
    assert (actual.month.isoformat(), actual.count, actual.total_e4) == ("2026-03-01", 2, 20000)
    delivery = last_delivery()
    assert (delivery.outcome, delivery.http_status, delivery.channel) == (
        "accepted",
        200,
        "webhook",
    )
    assert delivery.source == source and delivery.created == 2
    source.refresh_from_db()
    assert source.last_success_at == NOW and source.created == 2


def test_a_replay_inside_the_window_counts_nothing_twice(source):
    raw = json.dumps(DINGTALK_LIST).encode()
    header = sign(source.secret, T - 60, raw)

    first = post(body=raw, header=header)
    again = post(body=raw, header=header)

    assert first.status_code == again.status_code == 200
    assert again.json()["counts"]["created"] == 0
    assert again.json()["counts"]["unchanged"] == 2
    actual = Actual.objects.get(employee__employee_no="E0003", metric__code="days_present")
    assert (actual.count, actual.total_e4) == (2, 20000)
    assert Fact.objects.count() == 2


def test_a_day_counted_then_reported_absent_is_taken_back(source):
    post(body=DINGTALK_LIST, secret=source.secret)
    correction = {**DINGTALK_LIST, "recordresult": [
        {**DINGTALK_LIST["recordresult"][2], "timeResult": "Absenteeism"}
    ]}  # fmt: skip

    response = post(body=correction, secret=source.secret)

    assert response.json()["counts"]["voided"] == 1
    actual = Actual.objects.get(employee__employee_no="E0003", metric__code="days_present")
    assert actual.count == 1


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bad_signature", "does not match"),
        ("other_secret", "does not match"),
        ("stale", "301 s old"),
        ("future", "301 s in the future"),
        ("missing", "No X-Kaohe-Signature header"),
        ("garbled", "garbled"),
        ("changed_body", "does not match"),
    ],
)
def test_it_refuses_a_delivery_that_is_not_signed_right_now(source, case, reason):
    raw = json.dumps(DINGTALK_LIST).encode()
    header = {
        "bad_signature": f"t={T},v1={'0' * 64}",
        "other_secret": sign("whsec_someone-else", T, raw),
        "stale": sign(source.secret, T - 301, raw),
        "future": sign(source.secret, T + 301, raw),
        "missing": None,
        "garbled": f"v1={sign(source.secret, T, raw)}",
        "changed_body": sign(source.secret, T, raw.replace(b"manager3451", b"E0001")),
    }[case]

    response = post(body=raw, header=header)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "https://kaohe.dev/problems/unauthorized"
    assert Fact.objects.count() == 0
    delivery = last_delivery()
    assert (delivery.outcome, delivery.http_status, delivery.source) == ("rejected", 401, source)
    assert reason in delivery.reason
    assert delivery.body_bytes == len(raw)


def test_exactly_five_minutes_either_way_is_still_accepted(source):
    raw = json.dumps(DINGTALK_LIST).encode()

    assert post(body=raw, header=sign(source.secret, T - 300, raw)).status_code == 200
    assert post(body=raw, header=sign(source.secret, T + 300, raw)).status_code == 200


def test_an_unknown_or_inactive_source_gets_the_same_answer_as_a_bad_signature(source, cast):
    raw = json.dumps(DINGTALK_LIST).encode()
    header = sign(source.secret, T, raw)
    bad = post(body=raw, header=f"t={T},v1={'0' * 64}")
    unknown = post("/api/v1/hooks/nosuch", body=raw, header=header)
    Source.objects.filter(pk=source.pk).update(active=False)
    inactive = post(body=raw, header=header)

    assert bad.status_code == unknown.status_code == inactive.status_code == 401
    assert bad.json() == unknown.json() == inactive.json()
    logged = Delivery.objects.order_by("id")
    assert [(d.source_code, d.source_id) for d in logged] == [
        ("attendance", source.pk), ("nosuch", None), ("attendance", source.pk)
    ]  # fmt: skip
    assert "no source" in logged[1].reason and "inactive" in logged[2].reason


def test_a_source_without_a_secret_takes_nothing(source, cast):
    bare = do_create_source(cast.ada, "wecom", "企业微信", preset="wecom_checkin")

    response = post("/api/v1/hooks/wecom", body=WECOM_CHECKINDATA, header=sign("", T, b"{}"))

    assert response.status_code == 401
    assert "no webhook secret" in last_delivery().reason
    assert last_delivery().source == bare


def test_a_body_that_is_not_json_is_a_400_and_logged(source):
    response = post(body=b"<xml>punch</xml>", secret=source.secret)

    assert response.status_code == 400
    assert response.json()["detail"]
    delivery = last_delivery()
    assert (delivery.outcome, delivery.http_status) == ("rejected", 400)
    assert delivery.reason


def test_a_body_reporting_the_senders_error_is_a_422_with_its_message(source):
    body = {"errcode": 40014, "errmsg": "invalid access_token", "recordresult": []}

    response = post(body=body, secret=source.secret)

    assert response.status_code == 422
    assert "invalid access_token" in response.json()["detail"]
    assert "invalid access_token" in last_delivery().reason


def test_faulty_records_are_rejected_by_their_index_in_the_senders_list(source):
    records = [dict(r) for r in DINGTALK_LIST["recordresult"]]
    records[2]["userCheckTime"] = "yesterday"  # Tuesday's on-duty punch
    records[0]["userId"] = "nobody"  # an employee kaohe does not know
    body = {**DINGTALK_LIST, "recordresult": records}

    response = post(body=body, secret=source.secret)

    assert response.status_code == 200
    data = response.json()
    assert [(r["index"], r["field"], r["code"]) for r in data["rejected"]] == [
        (0, "employee", "unknown"), (2, "occurred_at", "bad_time")
    ]  # fmt: skip
    assert data["counts"]["rejected"] == 2
    delivery = last_delivery()
    assert delivery.outcome == Outcome.REJECTED  # nothing applied
    assert [r["index"] for r in delivery.rejections] == [0, 2]


def test_the_wecom_preset_takes_a_getcheckindata_body(source, cast):
    """企业微信《获取打卡记录数据》https://developer.work.weixin.qq.com/document/path/90262"""
    wecom = do_create_source(cast.ada, "wecom", "企业微信打卡", preset="wecom_checkin")
    wecom.mapping["tables"]["employees"] = {"amy.wang": "E0003", "james": "E0002"}
    wecom.save(update_fields=["mapping"])
    secret = do_rotate_webhook_secret(cast.ada, wecom)
    from kaohe.metrics.models import Metric

    Metric.objects.filter(code="days_present").update(sources=["attendance", "wecom"])

    response = post("/api/v1/hooks/wecom", body=WECOM_CHECKINDATA, secret=secret)

    assert response.status_code == 200, response.content
    assert response.json()["counts"] == {"created": 2, "updated": 0, "unchanged": 0,
                                         "voided": 0, "rejected": 0, "skipped": 4}  # fmt: skip
    assert sorted(Fact.objects.values_list("external_id", flat=True)) == [
        "wecom-present-amy.wang-2026-03-02", "wecom-present-james-2017-04-20"
    ]  # fmt: skip


def test_the_hook_needs_no_csrf_token_and_no_api_key(source):
    client = Client(enforce_csrf_checks=True)

    response = post(body=DINGTALK_LIST, secret=source.secret, client=client)

    assert response.status_code == 200


def test_a_signed_get_is_not_allowed(source):
    response = Client().get("/api/v1/hooks/attendance")

    assert response.status_code == 405


def test_numbers_too_large_for_any_amount_reject_their_record_not_the_delivery(cast):
    make_sales_metrics()  # sales_amount may come from "crm"
    mapping = {"items": "deals", "fields": {
        "external_id": {"template": "deal-{id}"}, "employee": "owner",
        "metric": {"const": "sales_amount"}, "value": "amount",
        "occurred_at": {"path": "won_at", "format": "local"}, "attributes": {"size": "size"},
    }}  # fmt: skip
    crm = do_create_source(cast.ada, "crm", "CRM", mapping=mapping)
    secret = do_rotate_webhook_secret(cast.ada, crm)
    deal = '{{"id": {}, "owner": "E0003", "won_at": "2026-03-01 10:00:00", {}}}'.format
    deals = [
        deal(1, '"amount": 1e30'),
        deal(2, '"amount": 1e5000'),
        deal(3, '"amount": 5, "size": 1e5000'),
        deal(4, '"amount": 5, "size": 1e30'),
    ]
    raw = ('{"deals": [' + ", ".join(deals) + "]}").encode()  # fmt: skip

    response = post("/api/v1/hooks/crm", body=raw, secret=secret)

    assert response.status_code == 200, response.content
    data = response.json()
    assert [(r["index"], r["field"], r["code"]) for r in data["rejected"]] == [
        (0, "value", "out_of_range"), (1, "value", "out_of_range"),
        (2, "attributes.size", "out_of_range"),
    ]  # fmt: skip
    assert Fact.objects.get().attributes == {"size": "1" + "0" * 30}
    assert last_delivery().outcome == Outcome.PARTLY


def test_a_refusal_before_the_sender_is_authenticated_leaves_the_sources_figures_alone(source):
    raw = json.dumps(DINGTALK_LIST).encode()
    for header in (f"t={T},v1={'0' * 64}", None, sign(source.secret, T - 301, raw)):
        assert post(body=raw, header=header).status_code == 401

    assert Delivery.objects.filter(source=source).count() == 3
    figures = Source.objects.values("last_received_at", "last_error_at", "last_error")
    assert figures.get(pk=source.pk) == {
        "last_received_at": None, "last_error_at": None, "last_error": ""
    }  # fmt: skip
    post(body=b"<xml/>", secret=source.secret)  # authenticated, then refused: it counts
    assert Source.objects.get(pk=source.pk).last_error_at == NOW
