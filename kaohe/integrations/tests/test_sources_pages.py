"""The sources pages and the request log: HR admins only, health, create/edit with the
mapping checked, the webhook secret shown once, the pull connector, and the log itself."""

import datetime as dt
import json

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kaohe.integrations.actions import (
    do_configure_pull,
    do_create_source,
    do_rotate_webhook_secret,
)
from kaohe.integrations.hooks import sign
from kaohe.integrations.models import Channel, Delivery, Outcome, PullConnector, Source
from kaohe.integrations.sync import record_delivery
from kaohe.integrations.tests.vendor_samples import DINGTALK_LIST
from kaohe.ledger.models import Entry
from kaohe.metrics.ingest import IngestResult, Rejection
from kaohe.metrics.testing import make_sales_metrics

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
LIST = reverse("front:source_list")
NEW = reverse("front:source_new")
LOG = reverse("front:delivery_list")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def admin(cast, client_for):
    client = client_for(cast.ada)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def detail(code: str) -> str:
    return reverse("front:source_detail", args=[code])


def kinds() -> list[str]:
    return list(Entry.objects.order_by("index").values_list("kind", flat=True))


def edit_data(source: Source, **changes) -> dict:
    data = {"name": source.name, "preset": source.preset, "mapping": "",
            "employees": "", "silent_after_hours": "", "active": "on"}  # fmt: skip
    return data | changes


# --- who may see -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["hazel", "harry", "audrey", "amy", "olga"])
def test_only_hr_admins_see_or_change_sources_and_the_log(cast, client_for, who):
    user = {"hazel": cast.hazel, "harry": cast.harry, "audrey": cast.audrey,
            "amy": cast.amy.user, "olga": cast.olga.user}[who]  # fmt: skip
    source = do_create_source(cast.ada, "crm", "CRM")
    do_configure_pull(cast.ada, source, url="http://127.0.0.1:9/deals")
    record_delivery("crm", Channel.WEBHOOK, outcome=Outcome.REJECTED, reason="bad signature")
    client = client_for(user)
    code = source.code
    pages = [
        LIST,
        NEW,
        detail(code),
        LOG,
        reverse("front:delivery_detail", args=[Delivery.objects.get().pk]),
    ]
    for url in pages:
        assert client.get(url).status_code == 403, url
    posts = [NEW, detail(code)] + [
        reverse(f"front:{name}", args=[code])
        for name in ("rotate_secret", "pull_settings", "pull_now", "pull_reset")
    ]
    for url in posts:
        assert client.post(url, {"code": "x2", "name": "x", "url": "http://x"}).status_code == 403
    source.refresh_from_db()
    assert source.webhook_secret == "" and Source.objects.count() == 1


def test_anonymous_visitors_are_sent_to_login(cast):
    response = Client().get(LIST)

    assert response.status_code == 302 and "/login/" in response.url


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_each_sources_health_and_flags_a_silent_one(cast, admin):
    make_sales_metrics()
    with time_machine.travel(NOW - dt.timedelta(hours=30), tick=False):
        do_create_source(cast.ada, "attendance", "钉钉考勤", silent_after_hours=24)
        do_create_source(cast.ada, "crm", "销售系统", silent_after_hours=24)
    record_delivery("crm", Channel.API, result=IngestResult(created=5))
    record_delivery("crm", Channel.WEBHOOK, outcome=Outcome.REJECTED, http_status=401,
                    reason="The signature does not match the body and the secret.")  # fmt: skip

    html = admin.get(LIST).content.decode()

    attendance, crm = html.split('href="/settings/sources/attendance/"')[1].split(
        'href="/settings/sources/crm/"'
    )
    assert "silent" in attendance and "silent" not in crm
    assert "signature does not match" in crm and "1 refused" in crm
    assert "days_present" in attendance and "sales_amount" in crm


def test_the_list_costs_the_same_queries_however_many_sources(cast, admin):
    do_create_source(cast.ada, "s1", "one")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(LIST).status_code == 200
        return len(captured)

    one = queries()
    for n in range(2, 9):
        source = do_create_source(cast.ada, f"s{n}", f"source {n}")
        do_configure_pull(cast.ada, source, url=f"http://127.0.0.1:9/{n}")
        record_delivery(source.code, Channel.API, result=IngestResult(created=n))
    assert queries() == one


# --- creating and editing ---------------------------------------------------------------


def test_an_hr_admin_creates_a_source_from_a_preset(cast, admin):
    response = admin.post(NEW, {"code": "attendance", "name": "钉钉考勤",
                                "preset": "dingtalk_attendance", "mapping": "",
                                "employees": "manager3451, E0003\nlisi\tE0001",
                                "silent_after_hours": "24"})  # fmt: skip

    assert response.status_code == 302 and response.url == detail("attendance")
    source = Source.objects.get(code="attendance")
    assert source.preset == "dingtalk_attendance" and source.silent_after_hours == 24
    assert source.mapping["items"] == "recordresult"
    assert source.mapping["tables"]["employees"] == {"manager3451": "E0003", "lisi": "E0001"}
    assert kinds()[-1] == "integrations.source.created"


def test_a_faulty_mapping_is_refused_naming_each_faulty_key(cast, admin):
    mapping = {"items": "data", "fields": {"external_id": "id", "employee": "u",
               "metric": {"const": "m"}, "value": "v",
               "occurred_at": {"path": "t", "format": "epoch_us"}}}  # fmt: skip

    response = admin.post(NEW, {"code": "crm", "name": "CRM", "mapping": json.dumps(mapping)})

    assert response.status_code == 200
    html = response.content.decode()
    assert "fields.occurred_at.format" in html and "epoch_ms" in html
    assert not Source.objects.exists()


def test_a_mapping_that_is_not_json_says_where(cast, admin):
    response = admin.post(NEW, {"code": "crm", "name": "CRM", "mapping": '{\n  "items": x\n}'})

    assert response.status_code == 200
    assert "line 2, column 12" in response.content.decode()


def test_reserved_and_taken_codes_are_refused(cast, admin):
    do_create_source(cast.ada, "crm", "CRM")

    for code in ("new", "crm", "Bad Code"):
        response = admin.post(NEW, {"code": code, "name": "x", "preset": "wecom_checkin"})
        assert response.status_code == 200, code
        assert 'id="code-errors"' in response.content.decode(), code
    assert Source.objects.count() == 1


def test_editing_the_mapping_and_its_employee_table_is_recorded(cast, admin):
    source = do_create_source(cast.ada, "attendance", "考勤", preset="dingtalk_attendance")
    page = admin.get(detail("attendance")).content.decode()
    assert "dingtalk-present-{userId}" in page  # the mapping, ready to edit
    mapping = dict(source.mapping, has_more="more")

    response = admin.post(detail("attendance"), edit_data(
        source, mapping=json.dumps(mapping), employees="manager3451,E0003", name="钉钉打卡"
    ))  # fmt: skip

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.name == "钉钉打卡" and source.mapping["has_more"] == "more"
    assert source.mapping["tables"]["employees"] == {"manager3451": "E0003"}
    assert kinds()[-2:] == ["integrations.source.changed", "integrations.source.mapping_changed"]


def test_choosing_another_payload_format_replaces_the_mapping_but_keeps_the_employees(cast, admin):
    source = do_create_source(cast.ada, "attendance", "考勤", preset="dingtalk_attendance")

    admin.post(detail("attendance"), edit_data(
        source, preset="wecom_checkin", mapping=json.dumps(source.mapping), employees="james E0002"
    ))  # fmt: skip

    source.refresh_from_db()
    assert source.preset == "wecom_checkin" and source.mapping["items"] == "checkindata"
    assert source.mapping["tables"]["employees"] == {"james": "E0002"}


def test_the_webhook_secret_is_shown_once_and_never_recorded(cast, admin):
    do_create_source(cast.ada, "attendance", "考勤", preset="dingtalk_attendance")

    response = admin.post(reverse("front:rotate_secret", args=["attendance"]))

    secret = Source.objects.get().webhook_secret
    assert secret.startswith("whsec_")
    assert secret in response.content.decode() and response["Cache-Control"] == "no-store"
    assert secret not in admin.get(detail("attendance")).content.decode()
    entry = Entry.objects.order_by("-index").first()
    assert entry.kind == "integrations.source.secret_rotated"
    assert secret not in str(entry.body)


# --- the pull connector ------------------------------------------------------------------


def test_pull_settings_are_saved_and_stored_header_values_stay_masked(cast, admin):
    do_create_source(cast.ada, "crm", "CRM")
    url = reverse("front:pull_settings", args=["crm"])
    data = {"url": "https://crm.example.com/api/deals?since=2026", "paging": "cursor",
            "cursor_param": "cursor", "headers": "Authorization: Bearer abc123",
            "every_minutes": "30", "active": "on"}  # fmt: skip

    assert admin.post(url, data).status_code == 302
    page = admin.get(detail("crm")).content.decode()
    assert "abc123" not in page and "Authorization: ********" in page
    admin.post(url, data | {"headers": "Authorization: ********\nX-Tenant: 42"})

    connector = PullConnector.objects.get()
    assert connector.headers == {"Authorization": "Bearer abc123", "X-Tenant": "42"}
    assert connector.every_minutes == 30
    assert kinds()[-1] == "integrations.pull.configured"
    assert "abc123" not in str(Entry.objects.order_by("-index").first().body)


def test_pull_settings_refuse_what_is_not_http(cast, admin):
    do_create_source(cast.ada, "crm", "CRM")
    data = {"url": "file:///etc/passwd", "paging": "cursor", "cursor_param": "cursor",
            "every_minutes": "15"}  # fmt: skip

    response = admin.post(reverse("front:pull_settings", args=["crm"]), data)

    assert response.status_code == 200 and not PullConnector.objects.exists()


def test_run_now_and_start_over(cast, admin):
    source = do_create_source(cast.ada, "crm", "CRM", mapping={
        "items": "$", "fields": {"external_id": "id", "employee": "e", "metric": "m",
                                 "value": "v", "occurred_at": "t"}})  # fmt: skip
    connector = do_configure_pull(cast.ada, source, url="http://127.0.0.1:9/deals")
    PullConnector.objects.filter(pk=connector.pk).update(cursor="c7")

    admin.post(reverse("front:pull_now", args=["crm"]))  # the test task backend runs it now

    connector.refresh_from_db()
    assert connector.state == "failing" and connector.cursor == "c7"
    assert Delivery.objects.get().outcome == Outcome.FAILED
    admin.post(reverse("front:pull_reset", args=["crm"]))
    connector.refresh_from_db()
    assert connector.cursor == ""
    assert kinds()[-1] == "integrations.pull.cursor_reset"


# --- the request log --------------------------------------------------------------------


def test_the_request_log_filters_by_source_and_outcome(cast, admin):
    make_sales_metrics()
    source = do_create_source(cast.ada, "attendance", "考勤", preset="dingtalk_attendance")
    source.mapping["tables"]["employees"] = {"manager3451": "E0003"}
    source.save(update_fields=["mapping"])
    secret = do_rotate_webhook_secret(cast.ada, source)
    raw = json.dumps(DINGTALK_LIST).encode()
    now = int(NOW.timestamp())
    Client().post("/api/v1/hooks/attendance", raw, content_type="application/json",
                  HTTP_X_KAOHE_SIGNATURE=sign(secret, now - 900, raw))  # fmt: skip
    Client().post("/api/v1/hooks/attendance", raw, content_type="application/json",
                  HTTP_X_KAOHE_SIGNATURE=sign(secret, now, raw))  # fmt: skip
    record_delivery("crm", Channel.API, result=IngestResult(created=1))

    rejected = admin.get(LOG, {"source": "attendance", "outcome": "rejected"}).content.decode()
    everything = admin.get(LOG).content.decode()

    assert "900" in rejected and rejected.count("<tr>") == 2  # header + one row (900 s stale)
    assert everything.count("<tr>") == 4


def test_a_delivery_shows_its_rejected_records(cast, admin):
    result = IngestResult(created=1, rejected=[
        Rejection(3, "employee", "unknown", "There is no such employee."),
        Rejection(7, "occurred_at", "bad_time", "userCheckTime is not a time written as epoch_ms."),
    ])  # fmt: skip
    delivery = record_delivery("attendance", Channel.WEBHOOK, result=result, http_status=200)

    html = admin.get(reverse("front:delivery_detail", args=[delivery.pk])).content.decode()

    assert "#3" in html and "#7" in html and "userCheckTime is not a time" in html
    assert "no such source" in html  # the path named no source


def test_the_log_pages_by_id_and_costs_the_same_queries(cast, admin, settings):
    from kaohe.front.views import sources

    do_create_source(cast.ada, "crm", "CRM")
    record_delivery("crm", Channel.API, result=IngestResult(created=1))

    def queries(params=None) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(LOG, params or {}).status_code == 200
        return len(captured)

    one = queries()
    for _ in range(sources.PAGE_SIZE + 5):
        record_delivery("crm", Channel.API, result=IngestResult(created=1))
    assert queries() == one
    page = admin.get(LOG).content.decode()
    assert "before=" in page
    oldest_first = Delivery.objects.order_by("id")
    before = oldest_first[6].pk
    older = admin.get(LOG, {"before": before}).content.decode()
    assert older.count("<tr>") == 1 + 6
