"""Pull connectors against a local HTTP server that pages, fails midway and recovers."""

import datetime as dt
import io
import json
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import translation

from kaohe.integrations import outbound
from kaohe.integrations.actions import do_configure_pull, do_create_source, without_secrets
from kaohe.integrations.models import Delivery, PullConnector, PullState, Source
from kaohe.integrations.pull import (
    STALE_AFTER,
    PullFailed,
    backoff,
    claim,
    fetch_json,
    pull_due_task,
    run_connector,
)
from kaohe.ledger.models import Entry
from kaohe.metrics.models import Actual, Fact
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.actions import FieldErrors

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
MAPPING = {
    "items": "deals",
    "fields": {
        "external_id": {"template": "deal-{id}"},
        "employee": "owner",
        "metric": {"const": "sales_amount"},
        "value": "amount",
        "occurred_at": {"path": "won_at", "format": "local"},
    },
    "next_cursor": "next",
    "has_more": "more",
}


def deals(first: int, count: int) -> list[dict]:
    return [
        {"id": n, "owner": "E0003" if n % 2 else "E0004", "amount": f"{n}00.00",
         "won_at": f"2026-02-{1 + n % 28:02d} 10:00:00"}
        for n in range(first, first + count)
    ]  # fmt: skip


class Vendor:
    """A CRM that serves `pages` (cursor -> body); `fail` plans failures per cursor."""

    def __init__(self) -> None:
        self.pages = {
            "": {"deals": deals(1, 4), "next": "c2", "more": True},
            "c2": {"deals": deals(5, 4), "next": "c3", "more": True},
            "c3": {"deals": deals(9, 3), "next": "c4", "more": False},
        }
        self.fail: dict[str, list[str]] = {}  # cursor -> ["500", "drop", ...] in order
        self.requests: list[dict] = []
        self.paged = deals(103, 9)  # page paging: 3 records a page, 3 pages, then empty
        self.redirects: list[str] = []  # the next requests are sent there, in order

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        cursor = query.get("cursor", [""])[0]
        self.requests.append({"cursor": cursor, "token": handler.headers.get("X-Token"),
                              "page": query.get("page", [""])[0]})  # fmt: skip
        if self.redirects:
            handler.send_response(302)
            handler.send_header("Location", self.redirects.pop(0).format(port=self.port))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        plan = self.fail.get(cursor) or []
        trouble = plan.pop(0) if plan else None
        if trouble == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)  # no response at all
            return
        status, body = (500, b"oops") if trouble == "500" else (200, self._body(cursor, query))
        if trouble == "not-json":
            body = b"<html>maintenance</html>"
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _body(self, cursor: str, query: dict) -> bytes:
        if "page" in query:
            page = int(query["page"][0])
            return json.dumps({"deals": self.paged[3 * page - 3 : 3 * page]}).encode()
        page = self.pages.get(cursor, {"deals": [], "more": False})
        return page if isinstance(page, bytes) else json.dumps(page).encode()


@pytest.fixture
def vendor():
    state = Vendor()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.answer(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.port = server.server_port
    state.url = f"http://127.0.0.1:{server.server_port}/deals"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def connector(cast, vendor):
    make_sales_metrics()  # sales_amount may come from "crm"
    source = do_create_source(cast.ada, "crm", "CRM", mapping=MAPPING)
    return do_configure_pull(cast.ada, source, url=vendor.url + "?region=east",
                             headers={"X-Token": "t0ken"}, every_minutes=15)  # fmt: skip


def fresh(connector) -> PullConnector:
    return PullConnector.objects.select_related("source").get(pk=connector.pk)


def sales_total() -> tuple[int, int]:
    rows = Actual.objects.filter(metric__code="sales_amount").values_list("total_e4", "count")
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


EVERYTHING = (sum(n * 100 for n in range(1, 12)) * 10_000, 11)


def test_it_fetches_every_page_and_commits_the_cursor(connector, vendor):
    run = run_connector(fresh(connector))

    assert (run.error, run.pages, run.counts["created"]) == ("", 3, 11)
    assert [r["cursor"] for r in vendor.requests] == ["", "c2", "c3"]
    assert {r["token"] for r in vendor.requests} == {"t0ken"}
    assert sales_total() == EVERYTHING
    after = fresh(connector)
    assert (after.state, after.cursor, after.failures) == (PullState.IDLE, "c4", 0)
    assert after.next_run_at == NOW + dt.timedelta(minutes=15)
    log = Delivery.objects.filter(channel="pull").order_by("id")
    assert [(d.outcome, d.created) for d in log] == [("accepted", 4), ("accepted", 4),
                                                     ("accepted", 3)]  # fmt: skip


@pytest.mark.parametrize("trouble", ["500", "drop", "not-json"])
def test_a_failure_midway_keeps_the_committed_cursor_and_the_next_run_resumes_there(
    connector, vendor, trouble
):
    vendor.fail["c3"] = [trouble]

    first = run_connector(fresh(connector))

    assert first.pages == 2 and first.error
    failing = fresh(connector)
    assert (failing.state, failing.cursor, failing.failures) == (PullState.FAILING, "c3", 1)
    assert failing.next_run_at == NOW + dt.timedelta(minutes=30)
    assert failing.last_error == first.error
    failed = Delivery.objects.filter(channel="pull").order_by("-id").first()
    assert (failed.outcome, failed.reason) == ("failed", first.error)
    assert Fact.objects.count() == 8

    second = run_connector(fresh(connector))

    assert (second.error, second.pages, second.counts["created"]) == ("", 1, 3)
    assert vendor.requests[-1]["cursor"] == "c3"
    assert Fact.objects.count() == 11
    assert sales_total() == EVERYTHING  # every deal exactly once
    recovered = fresh(connector)
    assert (recovered.state, recovered.failures, recovered.last_error) == (PullState.IDLE, 0, "")


def test_the_next_run_asks_from_the_last_position_and_counts_nothing_twice(connector, vendor):
    run_connector(fresh(connector))
    vendor.pages["c4"] = {"deals": deals(12, 2) + deals(1, 1), "next": "c5", "more": False}

    again = run_connector(fresh(connector))

    assert again.counts == {"created": 2, "updated": 0, "unchanged": 1, "voided": 0,
                            "rejected": 0}  # fmt: skip
    assert fresh(connector).cursor == "c5"


def test_failures_in_a_row_back_off_up_to_a_day(connector, vendor):
    vendor.fail[""] = ["500", "500"]
    run_connector(fresh(connector))
    run_connector(fresh(connector))

    assert fresh(connector).next_run_at == NOW + dt.timedelta(minutes=60)
    assert backoff(15, 3) == dt.timedelta(minutes=120)
    assert backoff(15, 30) == dt.timedelta(days=1)


def test_only_one_run_holds_the_connector_and_a_stale_claim_is_taken_over(connector):
    assert claim(connector, NOW) == NOW
    assert claim(connector, NOW) is None
    assert run_connector(fresh(connector)).busy

    later = NOW + STALE_AFTER + dt.timedelta(seconds=1)
    assert claim(connector, later) == later


def test_a_run_whose_claim_was_taken_over_commits_nothing(connector, vendor):
    def fetch_then_lose_the_claim(url, headers):
        PullConnector.objects.filter(pk=connector.pk).update(claimed_at=NOW + dt.timedelta(hours=1))
        return fetch_json(url, headers)

    run = run_connector(fresh(connector), fetch=fetch_then_lose_the_claim)

    assert run.error and run.pages == 0
    assert Fact.objects.count() == 0
    assert fresh(connector).cursor == ""


@pytest.fixture
def paged(cast, vendor):
    make_sales_metrics()
    mapping = {key: value for key, value in MAPPING.items() if key not in ("next", "has_more")}
    del mapping["next_cursor"]
    source = do_create_source(cast.ada, "crm", "CRM", mapping=mapping)
    return do_configure_pull(cast.ada, source, url=vendor.url, paging="page",
                             cursor_param="page")  # fmt: skip


def test_page_paging_stops_at_an_empty_page_and_asks_the_last_full_one_again(paged, vendor):
    run = run_connector(fresh(paged))

    assert (run.error, run.pages, run.counts["created"]) == ("", 4, 9)
    assert fresh(paged).cursor == "3"
    again = run_connector(fresh(paged))
    assert (again.pages, again.counts["unchanged"]) == (2, 3)
    assert Fact.objects.count() == 9


def test_records_appended_to_the_last_page_are_fetched_by_the_next_run(paged, vendor):
    vendor.paged = deals(1, 2)
    run_connector(fresh(paged))
    assert fresh(paged).cursor == "1"
    vendor.paged = deals(1, 7)  # page 1 filled up, page 2 begun, page 3 begun

    again = run_connector(fresh(paged))

    assert (again.error, again.counts["created"], again.counts["unchanged"]) == ("", 5, 2)
    assert Fact.objects.count() == 7
    assert fresh(paged).cursor == "3"


def test_switching_to_page_paging_starts_over_from_page_one(connector, vendor, cast):
    run_connector(fresh(connector))
    assert fresh(connector).cursor == "c4"

    switched = do_configure_pull(cast.ada, connector.source, url=vendor.url, paging="page",
                                 cursor_param="page")  # fmt: skip

    assert switched.cursor == ""
    entry = Entry.objects.filter(kind="integrations.pull.configured").last()
    assert json.loads(entry.body)["payload"]["cursor_reset"] == {"old_cursor": "c4"}


def test_a_cursor_that_is_no_page_number_reads_from_page_one(paged, vendor, caplog):
    PullConnector.objects.filter(pk=paged.pk).update(cursor="c4")

    run = run_connector(fresh(paged))

    assert (run.error, run.counts["created"]) == ("", 9)
    assert vendor.requests[0]["page"] == "1"
    assert "no page number" in caplog.text


def test_a_run_stops_at_the_page_limit_and_is_due_again_at_once(connector, vendor):
    run = run_connector(fresh(connector), max_pages=2)

    assert run.more and run.pages == 2
    after = fresh(connector)
    assert (after.cursor, after.next_run_at, after.state) == ("c3", NOW, PullState.IDLE)


def test_a_body_reporting_the_senders_error_fails_the_run(connector, vendor):
    source = connector.source
    source.mapping = {**MAPPING, "ok_when": [{"path": "errcode", "equals": 0}],
                      "error_message": "errmsg"}  # fmt: skip
    source.save(update_fields=["mapping"])
    vendor.pages[""] = {"errcode": 40014, "errmsg": "invalid access_token"}

    run = run_connector(fresh(connector))

    assert "invalid access_token" in run.error
    assert fresh(connector).state == PullState.FAILING


def test_the_scheduled_job_runs_the_due_connectors(connector, vendor):
    assert pull_due_task.enqueue().return_value == 1  # the immediate backend runs it

    assert Fact.objects.count() == 11
    assert pull_due_task.enqueue().return_value == 0  # not due for 15 minutes


def test_only_http_addresses_are_fetched():
    with pytest.raises(PullFailed):
        fetch_json("file:///etc/passwd", {})


def test_the_pull_command_runs_a_connector_and_reports(connector, vendor):
    out = io.StringIO()

    call_command("pull", "crm", stdout=out)

    assert "3 page(s), 11 created" in out.getvalue()
    vendor.pages["c4"] = {"deals": [], "more": False}
    vendor.fail["c4"] = ["500"]
    with pytest.raises(CommandError, match="500"):
        call_command("pull", "crm", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no pull connector"):
        call_command("pull", "nosuch")
    Source.objects.filter(code="crm").update(active=False)
    with pytest.raises(CommandError, match="switched off"):
        call_command("pull", "crm")
    assert claim(fresh(connector), NOW) is None  # an inactive source is never pulled


def test_a_record_with_a_number_too_large_is_rejected_and_the_run_moves_on(connector, vendor):
    good = json.dumps(deals(1, 2))[1:-1]
    bad = '{"id": 3, "owner": "E0003", "amount": 1e5000, "won_at": "2026-02-04 10:00:00"}'
    worse = '{"id": 4, "owner": "E0003", "amount": 1e30, "won_at": "2026-02-05 10:00:00"}'
    vendor.pages[""] = f'{{"deals": [{good}, {bad}, {worse}], "next": "c2", "more": true}}'.encode()

    run = run_connector(fresh(connector))

    assert (run.error, run.pages) == ("", 3)
    assert (run.counts["created"], run.counts["rejected"]) == (9, 2)
    assert fresh(connector).cursor == "c4"
    first = Delivery.objects.filter(channel="pull").order_by("id").first()
    assert [(r["index"], r["field"]) for r in first.rejections] == [(2, "value"), (3, "value")]


# --- addresses and redirects -----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://100.100.100.200/",
     "http://[::ffff:169.254.169.254]/", "https://169.254.170.2/v2/credentials",
     "http://[64:ff9b::169.254.169.254]/"],
)  # fmt: skip
def test_link_local_and_cloud_metadata_addresses_are_never_fetched(url, settings):
    settings.KAOHE_PULL_ALLOWED_HOSTS = ["169.254.0.0/16", "0.0.0.0/0", "::/0"]

    with pytest.raises(PullFailed, match=r"link-local|链路本地"):
        fetch_json(url, {})


def test_a_name_is_checked_by_the_address_it_resolves_to(monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("169.254.169.254" if host == "metadata.corp" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    with pytest.raises(PullFailed, match=r"169\.254\.169\.254"):
        fetch_json("http://metadata.corp/latest/meta-data/", {})


def test_every_redirect_is_checked_again(vendor):
    vendor.redirects = ["http://169.254.169.254/latest/meta-data/"]

    with pytest.raises(PullFailed, match=r"link-local|链路本地"):
        fetch_json(vendor.url, {"X-Token": "t0ken"})


def test_headers_go_only_to_the_origin_they_were_configured_for(vendor):
    vendor.redirects = ["/deals?cursor=c2", "http://localhost:{port}/deals?cursor=c3"]

    fetch_json(vendor.url, {"X-Token": "t0ken"})

    assert [(r["cursor"], r["token"]) for r in vendor.requests] == [
        ("", "t0ken"), ("c2", "t0ken"), ("c3", None)
    ]  # fmt: skip


def test_a_redirect_from_https_to_http_is_refused():
    request = urllib.request.Request("https://crm.example.com/deals", headers={"X-Token": "t"})

    with pytest.raises(outbound.Refused, match=r"https to http|https 重定向到 http"):
        outbound._Redirects().redirect_request(
            request, None, 302, "Found", {}, "http://crm.example.com/deals"
        )


def test_the_allowed_hosts_setting_limits_pulls_to_the_names_and_networks_it_lists(
    vendor, settings
):
    settings.KAOHE_PULL_ALLOWED_HOSTS = ["10.0.0.0/8", "crm.example.com"]
    with pytest.raises(PullFailed, match="KAOHE_PULL_ALLOWED_HOSTS"):
        fetch_json(vendor.url, {})

    settings.KAOHE_PULL_ALLOWED_HOSTS = ["127.0.0.0/8"]
    fetch_json(vendor.url, {})
    settings.KAOHE_PULL_ALLOWED_HOSTS = ["LOCALHOST"]
    fetch_json(f"http://localhost:{vendor.port}/deals", {})
    assert len(vendor.requests) == 2


def test_proxy_settings_in_the_environment_are_not_used(vendor, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there

    assert json.loads(fetch_json(vendor.url, {}))["deals"]


@pytest.mark.parametrize(
    ("url", "says"),
    [("https://user:pw@crm.example.com/deals", "header"), ("http://169.254.169.254/", "link-local"),
     ("http://other.example.com/", "KAOHE_PULL_ALLOWED_HOSTS"), ("http://crm:99999/", "http")],
)  # fmt: skip
def test_a_pull_url_is_refused_when_it_is_saved(cast, settings, url, says):
    settings.KAOHE_PULL_ALLOWED_HOSTS = ["crm.example.com", "crm"]
    source = do_create_source(cast.ada, "crm", "CRM")

    with translation.override("en"), pytest.raises(FieldErrors) as refused:
        do_configure_pull(cast.ada, source, url=url)

    assert says in refused.value.errors["url"]


def test_the_ledger_never_holds_credentials_or_the_query_of_a_url():
    url = "https://user:pw@CRM.example.com:8443/api/deals?token=abc"

    assert without_secrets(url) == "https://crm.example.com:8443/api/deals"
    assert without_secrets("http://[::1]/x?y") == "http://[::1]/x"
