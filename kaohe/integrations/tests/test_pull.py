"""Pull connectors against a local HTTP server that pages, fails midway and recovers."""

import datetime as dt
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.management import CommandError, call_command

from kaohe.integrations.actions import do_configure_pull, do_create_source
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
from kaohe.metrics.models import Actual, Fact
from kaohe.metrics.testing import make_sales_metrics

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

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        cursor = query.get("cursor", [""])[0]
        self.requests.append({"cursor": cursor, "token": handler.headers.get("X-Token")})
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
        if "page" in query:  # page paging: 3 records a page, 3 pages, then empty
            page = int(query["page"][0])
            rows = deals(100 + 3 * page, 3) if page <= 3 else []
            return json.dumps({"deals": rows}).encode()
        return json.dumps(self.pages.get(cursor, {"deals": [], "more": False})).encode()


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


def test_page_paging_stops_at_an_empty_page_and_asks_it_again_next_time(cast, vendor):
    make_sales_metrics()
    paged = {key: value for key, value in MAPPING.items() if key not in ("next", "has_more")}
    del paged["next_cursor"]
    source = do_create_source(cast.ada, "crm", "CRM", mapping=paged)
    connector = do_configure_pull(cast.ada, source, url=vendor.url, paging="page",
                                  cursor_param="page")  # fmt: skip

    run = run_connector(fresh(connector))

    assert (run.error, run.pages, run.counts["created"]) == ("", 4, 9)
    assert fresh(connector).cursor == "4"
    run_connector(fresh(connector))
    assert Fact.objects.count() == 9


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
