"""GET /api/v1/cycles and /api/v1/cycles/{id}/results: within the caller's reach."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.org.actions import do_create_api_key
from kaohe.org.testing import make_employee
from kaohe.reviews.models import CycleState, Result
from kaohe.reviews.testing import make_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def cycle(cast):
    cycle = make_cycle(cast)
    cycle.state = CycleState.SCORING
    cycle.save(update_fields=["state"])
    for person in (cast.amy, cast.mike, cast.dora):
        Result.objects.create(cycle=cycle, employee=person, org_unit=person.org_unit)
    return cycle


def _bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_a_key_with_the_scope_lists_cycles_and_results(cast, client, cycle):
    _key, secret = do_create_api_key(cast.ada, "bi", ["reviews:read"])
    cycles = client.get("/api/v1/cycles", **_bearer(secret)).json()
    assert [c["id"] for c in cycles["items"]] == [str(cycle.public_id)]
    assert cycles["items"][0]["period"] == "2026-Q1"
    results = client.get(f"/api/v1/cycles/{cycle.public_id}/results", **_bearer(secret)).json()
    assert sorted(r["employee"] for r in results["items"]) == ["E0001", "E0002", "E0003"]
    assert results["items"][0]["total"] is None and results["items"][0]["document"] is None


def test_a_key_without_the_scope_is_refused(cast, client, cycle):
    _key, secret = do_create_api_key(cast.ada, "crm", ["facts:write"])
    assert client.get("/api/v1/cycles", **_bearer(secret)).status_code == 403


def test_a_key_limited_to_south_sees_nothing_of_east(cast, client, cycle):
    _key, secret = do_create_api_key(cast.ada, "south", ["reviews:read"], [cast.south])
    assert client.get("/api/v1/cycles", **_bearer(secret)).json()["items"] == []
    url = f"/api/v1/cycles/{cycle.public_id}/results"
    assert client.get(url, **_bearer(secret)).status_code == 404


def test_a_manager_sees_only_his_subtree_and_pages_follow_the_cursor(cast, client_for, cycle):
    url = f"/api/v1/cycles/{cycle.public_id}/results"
    mine = client_for(cast.mike.user).get(url).json()
    assert [r["employee"] for r in mine["items"]] == ["E0003"]
    hazel = client_for(cast.hazel)
    first = hazel.get(url + "?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = hazel.get(url + f"?limit=2&cursor={first['next_cursor']}").json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_outsiders_get_nothing(cast, client_for, cycle):
    url = f"/api/v1/cycles/{cycle.public_id}/results"
    for user in (cast.olga.user, cast.harry, cast.amy.user):
        assert client_for(user).get(url).status_code == 404
        assert client_for(user).get("/api/v1/cycles").json()["items"] == []


def test_the_results_list_costs_the_same_queries_for_more_rows(cast, client_for, cycle):
    client = client_for(cast.hazel)
    url = f"/api/v1/cycles/{cycle.public_id}/results"
    client.get(url)
    with CaptureQueriesContext(connection) as three:
        client.get(url)
    for n in range(5, 9):
        person = make_employee(f"E000{n}", f"员工{n}", cast.east_sales, cast.mike)
        Result.objects.create(cycle=cycle, employee=person, org_unit=cast.east_sales)
    with CaptureQueriesContext(connection) as seven:
        assert len(client.get(url).json()["items"]) == 7
    assert len(seven.captured_queries) == len(three.captured_queries)
