"""GET /api/v1/alerts: the alerts within the caller's reach, filtered, paged, and bad input
refused with a problem, never a 500."""

import datetime as dt

import pytest
import schemathesis
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, settings

from kaohe.alerts.models import Kind, Level, Status
from kaohe.alerts.testing import make_rule, raise_alert
from kaohe.org.actions import do_create_api_key
from kaohe.org.tests.test_api_schema import wsgi_keeps_the_test_connection  # noqa: F401
from kaohe.wsgi import application

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts"
PROBLEM = "application/problem+json"
T0 = dt.datetime(2026, 3, 5, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def story(cast):
    """amy (East) and olga (South) below target; a silent source; one resolved alert."""
    below = make_rule(cast.ada)
    silent = make_rule(
        cast.ada, "crm-silent", name="CRM 无数据", kind=Kind.SOURCE_SILENT,
        params={"hours": 24}, level=Level.REMINDER, recipients={},
    )  # fmt: skip
    return {
        "amy": raise_alert(below, cast.amy, raised_at=T0),
        "olga": raise_alert(below, cast.olga, raised_at=T0 + dt.timedelta(hours=1)),
        "source": raise_alert(silent, None, "since:x", raised_at=T0 + dt.timedelta(hours=2)),
        "old": raise_alert(
            below, cast.amy, "2026-01", status=Status.RESOLVED,
            raised_at=T0 - dt.timedelta(days=30), resolved_at=T0,
        ),
    }  # fmt: skip


def key(scopes=("alerts:read",), units=()) -> dict:
    _key, secret = do_create_api_key(None, "bi", list(scopes), list(units))
    return {"Authorization": f"Bearer {secret}"}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_a_key_without_the_alerts_scope_is_refused_with_403(story):
    response = Client().get(URL, headers=key(["employees:read"]))
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    assert "alerts:read" in response.json()["detail"]


def test_no_credentials_is_a_401(story):
    assert Client().get(URL).status_code == 401


def test_a_company_wide_key_sees_every_alert_newest_first(story):
    response = Client().get(URL, headers=key())
    expected = [story[name].pk for name in ("source", "olga", "amy", "old")]
    assert ids(response) == expected
    first = response.json()["items"][0]
    assert first["employee"] is None and first["subject"] == "source:crm"
    amy = response.json()["items"][2]
    assert amy["employee"] == "E0003" and amy["rule"] == "below-80-2m"
    assert amy["figures"]["attainment"] == ["50.00", "70.00"]
    assert amy["level"] == "level1" and amy["status"] == "notified" and amy["rule_version"] == 1


def test_a_key_limited_to_a_unit_sees_neither_other_units_nor_sources(story, cast):
    response = Client().get(URL, headers=key(units=[cast.east]))
    assert ids(response) == [story["amy"].pk, story["old"].pk]
    olga = Client().get(URL, {"employee": "E0004"}, headers=key(units=[cast.east]))
    assert ids(olga) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"employee": "E0003"}, ["amy", "old"]),
        ({"rule": "crm-silent"}, ["source"]),
        ({"level": "reminder"}, ["source"]),
        ({"status": "resolved"}, ["old"]),
        ({"status": "open", "employee": "E0003"}, ["amy"]),
        ({"employee": "E9999"}, []),
        ({"rule": "no-such-rule"}, []),
    ],
)
def test_filters_narrow_the_list(story, params, expected):
    response = Client().get(URL, params, headers=key())
    assert ids(response) == [story[name].pk for name in expected]


@pytest.mark.parametrize("params", [{"level": "urgent"}, {"status": "closed"}])
def test_an_unknown_level_or_status_is_a_422_naming_the_choices(story, params):
    response = Client().get(URL, params, headers=key(), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422 and response["Content-Type"] == PROBLEM
    error = response.json()["errors"][0]
    assert error["field"] == next(iter(params))
    assert "level1" in error["message"] or "resolved" in error["message"]


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "501"}, {"cursor": "abc"}, {"cursor": "1-2-3"},
     {"cursor": "9" * 18 + "-1"}, {"employee": "E 1"}, {"rule": "a/b"}],
)  # fmt: skip
def test_malformed_parameters_are_a_422(story, params):
    assert Client().get(URL, params, headers=key()).status_code == 422


def test_pages_follow_the_cursor_without_gaps_and_in_constant_queries(story, cast):
    rule = story["amy"].rule
    for month in range(3, 9):
        raise_alert(rule, cast.mike, f"2026-{month:02d}", raised_at=T0)  # same moment
    headers = key()
    Client().get(URL, headers=headers)  # the key's first use is noted once
    seen, cursor, counts = [], None, []
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        with CaptureQueriesContext(connection) as captured:
            page = Client().get(URL, params, headers=headers)
        counts.append(len(captured))
        seen += ids(page)
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    everything = ids(Client().get(URL, {"limit": 500}, headers=headers))
    assert seen == everything and len(seen) == 10 and len(set(seen)) == 10
    assert max(counts) == min(counts)


def test_a_signed_in_user_sees_what_the_alerts_page_shows(story, cast, client_for):
    def seen(user):
        return ids(client_for(user).get(URL))

    assert seen(cast.mike.user) == [story["amy"].pk, story["old"].pk]
    assert seen(cast.harry) == [story["olga"].pk]
    assert seen(cast.olga.user) == []  # the rule does not tell the employee
    assert seen(cast.amy.user) == []
    assert seen(cast.ada) == [story[n].pk for n in ("source", "olga", "amy", "old")]


def test_the_employee_sees_her_own_alert_once_the_rule_tells_her(cast, client_for):
    rule = make_rule(cast.ada, recipients={"hr": True, "managers": 1, "employee": True})
    alert = raise_alert(rule, cast.amy)
    assert ids(client_for(cast.amy.user).get(URL)) == [alert.pk]
    assert ids(client_for(cast.olga.user).get(URL)) == []


# --- generated input: never a 500 ------------------------------------------------------

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema = schema.include(path_regex="alerts")


@pytest.fixture
def alerts_secret(story, request):
    request.getfixturevalue("wsgi_keeps_the_test_connection")
    _key, secret = do_create_api_key(None, "fuzzing", ["alerts:read"])
    return secret


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_what_the_openapi_document_promises(case, alerts_secret):
    case.call_and_validate(headers={"Authorization": f"Bearer {alerts_secret}"})
