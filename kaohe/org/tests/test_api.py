import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kaohe.org.actions import do_create_api_key, do_revoke_api_key, placement_on
from kaohe.org.models import ApiKey, Employee
from kaohe.org.testing import make_employee, make_unit

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 15, 2, 0, tzinfo=dt.UTC)
PROBLEM = "application/problem+json"
TYPES = "https://kaohe.dev/problems/"
READ, WRITE = "employees:read", "employees:write"


@pytest.fixture
def key(cast):
    """key(scopes, units) -> headers carrying a new API key's secret."""

    def make(scopes=(READ, WRITE), units=()):
        _key, secret = do_create_api_key(None, "hris", list(scopes), list(units))
        return {"Authorization": f"Bearer {secret}"}

    return make


def get(client_or_headers, url, **params):
    if isinstance(client_or_headers, dict):
        return Client().get(url, params, headers=client_or_headers)
    return client_or_headers.get(url, params)


def post(client_or_headers, payload, language=None):
    headers = dict(client_or_headers) if isinstance(client_or_headers, dict) else {}
    if language:
        headers["Accept-Language"] = language
    client = client_or_headers if isinstance(client_or_headers, Client) else Client()
    return client.post(
        "/api/v1/employees", payload, content_type="application/json", headers=headers
    )


def numbers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["employee_no"] for item in response.json()["items"]]


def assert_problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == TYPES + kind
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def new_hire(no="E0100", **fields) -> dict:
    base = {"employee_no": no, "name": "新员工", "org_unit": "EAST-S", "hire_date": "2026-01-05"}
    return base | fields


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/employees", "/api/v1/employees/E0003", "/api/v1/org-units"]
)
def test_a_request_without_credentials_gets_a_401_problem(cast, url):
    response = Client().get(url)
    assert_problem(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_post_without_credentials_gets_a_401_not_a_csrf_error(cast):
    assert_problem(post({}, new_hire()), 401, "unauthorized")


def test_an_unknown_or_malformed_key_gets_a_401(cast):
    for value in ("Bearer kh_deadbeef_nope", "Bearer ", "Bearer 不是密钥"):
        response = Client().get("/api/v1/employees", headers={"Authorization": value})
        assert_problem(response, 401, "unauthorized")


def test_a_revoked_key_gets_a_401(cast):
    key, secret = do_create_api_key(None, "crm", [READ])
    headers = {"Authorization": f"Bearer {secret}"}
    assert get(headers, "/api/v1/employees").status_code == 200
    do_revoke_api_key(cast.ada, key)
    assert_problem(get(headers, "/api/v1/employees"), 401, "unauthorized")


def test_a_key_without_the_read_scope_gets_403_on_every_read(cast, key):
    headers = key(scopes=["facts:write"])
    for url in ("/api/v1/employees", "/api/v1/employees/E0003", "/api/v1/org-units"):
        body = assert_problem(get(headers, url), 403, "forbidden")
        assert READ in body["detail"]


def test_a_key_without_the_write_scope_gets_403_before_its_body_is_read(cast, key):
    headers = key(scopes=[READ])
    assert_problem(post(headers, {"nonsense": True}), 403, "forbidden")
    assert not Employee.objects.filter(employee_no="E0100").exists()


@time_machine.travel(TODAY, tick=False)
def test_a_key_records_when_and_from_where_it_was_used_at_most_once_a_minute(cast):
    key, secret = do_create_api_key(None, "crm", [READ])
    headers = {"Authorization": f"Bearer {secret}"}
    get(headers, "/api/v1/org-units")
    key.refresh_from_db()
    assert (key.last_used_at, key.last_used_ip) == (TODAY, "127.0.0.1")
    later = time_machine.travel(TODAY + dt.timedelta(seconds=30), tick=False)
    with later, CaptureQueriesContext(connection) as queries:
        get(headers, "/api/v1/org-units")
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    with time_machine.travel(TODAY + dt.timedelta(seconds=61), tick=False):
        get(headers, "/api/v1/org-units")
    key.refresh_from_db()
    assert key.last_used_at == TODAY + dt.timedelta(seconds=61)


# --- reach ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["olga", "harry"])
def test_outsiders_get_404_for_amy_and_see_no_east_people(cast, client_for, who):
    client = client_for(cast.olga.user if who == "olga" else cast.harry)
    assert_problem(get(client, "/api/v1/employees/E0003"), 404, "not-found")
    assert numbers(get(client, "/api/v1/employees")) == ["E0004"]
    units = [u["code"] for u in get(client, "/api/v1/org-units").json()["items"]]
    assert units == ["SOUTH"]


def test_a_key_limited_to_south_gets_404_for_amy_and_lists_only_south(cast, key):
    headers = key(units=[cast.south])
    assert_problem(get(headers, "/api/v1/employees/E0003"), 404, "not-found")
    assert numbers(get(headers, "/api/v1/employees")) == ["E0004"]
    units = [u["code"] for u in get(headers, "/api/v1/org-units").json()["items"]]
    assert units == ["SOUTH"]


def test_a_missing_employee_and_a_hidden_one_look_the_same(cast, key):
    headers = key(units=[cast.south])
    hidden = get(headers, "/api/v1/employees/E0003").json()
    missing = get(headers, "/api/v1/employees/E9999").json()
    assert hidden["detail"].replace("E0003", "X") == missing["detail"].replace("E9999", "X")


def test_a_company_wide_key_sees_everyone_and_every_unit(cast, key):
    headers = key()
    assert numbers(get(headers, "/api/v1/employees")) == ["E0001", "E0002", "E0003", "E0004"]
    units = get(headers, "/api/v1/org-units").json()["items"]
    assert [(u["code"], u["parent"], u["depth"]) for u in units] == [
        ("HQ", None, 0),
        ("EAST", "HQ", 1),
        ("EAST-S", "EAST", 2),
        ("SOUTH", "HQ", 1),
    ]


def test_hazel_sees_east_and_mike_his_team_through_their_sessions(cast, client_for):
    hazel, mike = client_for(cast.hazel), client_for(cast.mike.user)
    assert numbers(get(hazel, "/api/v1/employees")) == ["E0001", "E0002", "E0003"]
    assert numbers(get(mike, "/api/v1/employees")) == ["E0002", "E0003"]
    assert get(mike, "/api/v1/employees/E0003").json()["name"] == "艾米"
    assert_problem(get(mike, "/api/v1/employees/E0001"), 404, "not-found")
    assert [u["code"] for u in get(mike, "/api/v1/org-units").json()["items"]] == ["EAST-S"]


def test_an_employee_reads_herself_and_her_own_unit(cast, client_for):
    amy = client_for(cast.amy.user)
    assert get(amy, "/api/v1/employees/E0003").json() == {
        "employee_no": "E0003",
        "name": "艾米",
        "org_unit": "EAST-S",
        "manager": "E0002",
        "position": "销售代表",
        "gender": "female",
        "birth_date": None,
        "hire_date": "2020-03-01",
        "email": "e0003@example.com",
        "mobile": "",
        "status": "active",
    }
    assert numbers(get(amy, "/api/v1/employees")) == ["E0003"]
    assert [u["code"] for u in get(amy, "/api/v1/org-units").json()["items"]] == ["EAST-S"]


@pytest.mark.parametrize("who", ["olga", "mike", "audrey"])
def test_people_without_an_hr_role_get_403_on_post(cast, client_for, who):
    user = {"olga": cast.olga.user, "mike": cast.mike.user, "audrey": cast.audrey}[who]
    assert_problem(post(client_for(user), new_hire()), 403, "forbidden")


def test_harry_may_not_change_amy_nor_hire_into_east(cast, client_for):
    harry = client_for(cast.harry)
    moved = post(harry, new_hire("E0003", org_unit="SOUTH"))
    assert_problem(moved, 403, "forbidden")
    assert "艾米" not in moved.content.decode()
    english = assert_problem(
        post(harry, new_hire("E0003", org_unit="SOUTH"), "en"), 403, "forbidden"
    )
    assert english["detail"] == "Employee number E0003 is not available to you."
    hired = assert_problem(post(harry, new_hire(org_unit="EAST-S")), 422, "validation")
    assert [e["field"] for e in hired["errors"]] == ["org_unit"]
    cast.amy.refresh_from_db()
    assert cast.amy.org_unit == cast.east_sales


def test_a_key_limited_to_south_may_not_hire_into_east_nor_name_an_east_manager(cast, key):
    headers = key(units=[cast.south])
    body = assert_problem(post(headers, new_hire(manager="E0002")), 422, "validation")
    assert sorted(e["field"] for e in body["errors"]) == ["manager", "org_unit"]
    # E0002 exists, but outside the key's reach it reads as unknown.
    body = post(headers, new_hire(org_unit="SOUTH", manager="E0002"), language="en").json()
    assert body["errors"][0]["message"] == "There is no employee E0002."


def test_a_key_gets_the_same_neutral_answer_for_a_number_out_of_its_reach(cast, key):
    body = post(key(units=[cast.south]), new_hire("E0003", org_unit="SOUTH"), language="en")
    assert assert_problem(body, 403, "forbidden")["detail"] == (
        "Employee number E0003 is not available to you."
    )
    cast.amy.refresh_from_db()
    assert cast.amy.org_unit == cast.east_sales


# --- listing ----------------------------------------------------------------------------


def make_people(cast, count: int, prefix="P") -> None:
    for i in range(count):
        make_employee(f"{prefix}{i:04d}", f"员工{i}", cast.east_sales, cast.mike)


def test_pagination_walks_every_row_exactly_once(cast, key):
    make_people(cast, 23)
    headers, seen, cursor, pages = key(), [], None, 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = get(headers, "/api/v1/employees", **params).json()
        seen += [item["employee_no"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 6
    assert seen == sorted(Employee.objects.values_list("employee_no", flat=True))


def test_the_last_full_page_has_no_next_cursor(cast, key):
    page = get(key(), "/api/v1/employees", limit=4).json()
    assert len(page["items"]) == 4 and page["next_cursor"] is None


def test_filters_by_text_unit_with_its_subunits_and_status(cast, key):
    headers = key()
    Employee.objects.filter(employee_no="E0002").update(status="leave")
    assert numbers(get(headers, "/api/v1/employees", q="艾")) == ["E0003"]
    assert numbers(get(headers, "/api/v1/employees", q="e0004")) == ["E0004"]
    assert numbers(get(headers, "/api/v1/employees", org_unit="EAST")) == [
        "E0001",
        "E0002",
        "E0003",
    ]
    assert numbers(get(headers, "/api/v1/employees", org_unit="EAST-S")) == ["E0002", "E0003"]
    assert numbers(get(headers, "/api/v1/employees", org_unit="NOWHERE")) == []
    assert numbers(get(headers, "/api/v1/employees", status="leave")) == ["E0002"]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"status": "fired"}, {"cursor": "xyz"}]
)
def test_bad_list_parameters_are_a_422_problem_naming_them(cast, key, params):
    body = assert_problem(get(key(), "/api/v1/employees", **params), 422, "validation")
    [error] = body["errors"]
    assert (error["location"], error["field"]) == ("query", next(iter(params)))


@pytest.mark.parametrize("caller", ["key", "hazel"])
def test_listing_takes_the_same_number_of_queries_for_5_or_50_employees(
    cast, key, client_for, caller
):
    who = key() if caller == "key" else client_for(cast.hazel)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert get(who, "/api/v1/employees", limit=500).status_code == 200
        return len(queries)

    get(who, "/api/v1/org-units")  # the key's first use of the minute writes last_used_at
    make_people(cast, 5)
    few = count_queries()
    make_people(cast, 45, prefix="Q")
    assert Employee.objects.count() == 54
    assert count_queries() == few


# --- upsert -----------------------------------------------------------------------------


@time_machine.travel(TODAY, tick=False)
def test_posting_a_new_number_creates_the_employee_with_an_open_placement(cast, key):
    response = post(key(), new_hire(manager="E0002", gender="male", birth_date="1990-02-03"))
    assert response.status_code == 201, response.content
    assert response.json()["manager"] == "E0002"
    hire = Employee.objects.get(employee_no="E0100")
    assert (hire.org_unit, hire.manager, hire.gender) == (cast.east_sales, cast.mike, "male")
    placement = placement_on(hire, dt.date(2026, 1, 5))
    assert (placement.org_unit, placement.manager, placement.valid_to) == (
        cast.east_sales,
        cast.mike,
        None,
    )


@time_machine.travel(TODAY, tick=False)
def test_posting_a_known_number_updates_and_records_the_move_from_today(cast, key):
    changes = {"org_unit": "EAST", "manager": "E0001", "position": "大客户经理"}
    response = post(
        key(), {"employee_no": "E0003", "name": "艾米", "hire_date": "2020-03-01"} | changes
    )
    assert response.status_code == 200, response.content
    assert response.json() | changes == response.json()
    before, after = (
        placement_on(cast.amy, dt.date(2026, 6, 14)),
        placement_on(cast.amy, dt.date(2026, 6, 15)),
    )
    assert (before.org_unit, before.manager, before.position) == (
        cast.east_sales,
        cast.mike,
        "销售代表",
    )
    assert (after.org_unit, after.manager, after.position) == (cast.east, cast.dora, "大客户经理")
    assert after.reason.startswith("API key hris")


@time_machine.travel(TODAY, tick=False)
def test_fields_left_out_of_an_update_keep_their_value(cast, key):
    response = post(
        key(),
        {"employee_no": "E0003", "name": "艾米", "org_unit": "EAST-S", "hire_date": "2020-03-01"},
    )
    assert response.status_code == 200
    cast.amy.refresh_from_db()
    assert (cast.amy.manager, cast.amy.gender, cast.amy.email) == (
        cast.mike,
        "female",
        "e0003@example.com",
    )
    assert cast.amy.placements.count() == 1


@time_machine.travel(TODAY, tick=False)
def test_two_changes_on_one_day_correct_the_same_placement(cast, key):
    headers = key()
    post(headers, new_hire(hire_date="2026-06-15"))
    assert post(headers, new_hire(hire_date="2026-06-15", position="实习生")).status_code == 200
    hire = Employee.objects.get(employee_no="E0100")
    assert list(hire.placements.values_list("position", "valid_from", "valid_to")) == [
        ("实习生", dt.date(2026, 6, 15), None)
    ]


@time_machine.travel(TODAY, tick=False)
def test_an_hr_partner_upserts_within_her_units_through_her_session(cast):
    hazel = Client(enforce_csrf_checks=True)
    hazel.force_login(cast.hazel)
    assert_problem(post(hazel, new_hire()), 403, "csrf")
    hazel.get("/api/v1/docs")  # sets the CSRF cookie
    token = hazel.cookies["csrftoken"].value
    response = hazel.post(
        "/api/v1/employees",
        new_hire(),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content
    assert Employee.objects.get(employee_no="E0100").placements.get().recorded_by == cast.hazel


def test_invalid_references_are_422_problems_with_field_errors_in_chinese_by_default(cast, key):
    body = assert_problem(
        post(key(), new_hire(org_unit="NOWHERE", manager="E9999")), 422, "validation"
    )
    assert {e["field"]: e["location"] for e in body["errors"]} == {
        "org_unit": "body",
        "manager": "body",
    }
    missing = post(key(), {"employee_no": "E0100"})
    assert missing["Content-Language"] == "zh-hans"
    errors = {e["field"]: e["message"] for e in missing.json()["errors"]}
    assert errors == {
        "name": "此字段为必填项。",
        "org_unit": "此字段为必填项。",
        "hire_date": "此字段为必填项。",
    }


def test_problems_are_in_english_when_the_client_asks_for_it(cast, key):
    response = post(key(), new_hire(org_unit="NOWHERE"), language="en")
    assert response["Content-Language"] == "en"
    body = assert_problem(response, 422, "validation")
    assert body["title"] == "Invalid input"
    assert body["errors"] == [
        {
            "location": "body",
            "field": "org_unit",
            "code": "invalid",
            "message": "There is no org unit NOWHERE.",
        }
    ]
    missing = post(key(), {"employee_no": "E0100"}, language="en").json()
    assert missing["errors"][0]["message"] == "This field is required."


def test_a_manager_cycle_is_refused(cast, key):
    body = assert_problem(
        post(
            key(),
            {
                "employee_no": "E0001",
                "name": "杜拉",
                "org_unit": "EAST",
                "hire_date": "2020-03-01",
                "manager": "E0003",
            },
            language="en",
        ),
        422,
        "validation",
    )
    [error] = body["errors"]
    assert error["field"] == "manager" and "cycle" in error["message"]
    own = post(key(), new_hire(manager="E0100"), language="en").json()
    assert own["errors"][0]["message"] == "An employee cannot be their own manager."


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("hire_date", 20260105, "value_error"),
        ("hire_date", "2026-01-05T00:00:00", "value_error"),
        ("hire_date", "2026-02-30", "value_error"),
        ("hire_date", "1850-01-01", "value_error"),
        ("birth_date", "05/01/1990", "value_error"),
        ("name", "x" * 101, "string_too_long"),
        ("name", "   ", "string_pattern_mismatch"),
        ("name", 42, "string_type"),
        ("name", "a\x00b", "string_pattern_mismatch"),
        ("gender", "m", "literal_error"),
        ("status", "fired", "literal_error"),
        ("email", "not-an-email", "string_pattern_mismatch"),
        ("mobile", "call me", "string_pattern_mismatch"),
        ("employee_no", "E/1", "string_pattern_mismatch"),
        ("salary", 1000, "extra_forbidden"),
    ],
)
def test_garbage_is_refused_instead_of_coerced(cast, key, field, value, code):
    body = assert_problem(post(key(), new_hire(**{field: value})), 422, "validation")
    assert [(e["location"], e["field"], e["code"]) for e in body["errors"]] == [
        ("body", field, code)
    ]
    assert not Employee.objects.filter(employee_no="E0100").exists()


@pytest.mark.parametrize("number", ["import", "Import", "export.xlsx", "EXPORT.XLSX"])
def test_the_words_the_people_pages_use_as_paths_are_no_employee_numbers(cast, key, number):
    body = assert_problem(post(key(), new_hire(number), language="en"), 422, "validation")
    assert body["errors"] == [
        {
            "location": "body",
            "field": "employee_no",
            "code": "value_error",
            "message": f"{number} is reserved and cannot be an employee number.",
        }
    ]
    as_manager = assert_problem(post(key(), new_hire(manager=number)), 422, "validation")
    assert [(e["field"], e["code"]) for e in as_manager["errors"]] == [("manager", "value_error")]
    assert not Employee.objects.filter(employee_no__in=[number, "E0100"]).exists()


@pytest.mark.parametrize("number", ["A/1", " E1", ".x", "E\u30001"])
def test_a_number_that_is_not_one_path_segment_is_refused(cast, key, number):
    body = assert_problem(post(key(), new_hire(number)), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("employee_no", "string_pattern_mismatch")
    ]
    assert Employee.objects.count() == 4


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_a_body_that_is_not_an_object_is_a_problem(cast, key, raw):
    response = Client().post(
        "/api/v1/employees", raw, content_type="application/json", headers=key()
    )
    assert response.status_code in (400, 422)
    assert response["Content-Type"] == PROBLEM


# --- the documents ----------------------------------------------------------------------


def test_the_openapi_document_is_3_1_and_declares_problems_for_errors(cast):
    document = Client().get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    post_responses = document["paths"]["/api/v1/employees"]["post"]["responses"]
    assert set(post_responses) == {"200", "201", "400", "401", "403", "409", "422"}
    assert list(post_responses["422"]["content"]) == [PROBLEM]
    detail = document["paths"]["/api/v1/employees/{employee_no}"]["get"]["responses"]
    assert "404" in detail
    assert document["components"]["schemas"]["EmployeeIn"]["additionalProperties"] is False
    number = document["components"]["schemas"]["EmployeeIn"]["properties"]["employee_no"]
    reserved = re.compile(number["not"]["pattern"])
    assert reserved.fullmatch("Export.Xlsx") and reserved.fullmatch("IMPORT")
    assert not reserved.fullmatch("imports") and not reserved.fullmatch("E0042")


def test_the_docs_page_loads_nothing_from_other_sites(cast):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html)
    assert "http://" not in html and "https://" not in html


def test_revoked_keys_are_not_found_by_their_secret(cast):
    key, secret = do_create_api_key(None, "crm", [READ])
    do_revoke_api_key(None, key, system=True)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    response = Client().get("/api/v1/org-units", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_unit_reach_of_a_key_includes_units_created_later_below_its_units(cast, key):
    headers = key(units=[cast.east])
    make_unit("EAST-N", "华东北区", cast.east)
    codes = [u["code"] for u in get(headers, "/api/v1/org-units").json()["items"]]
    assert codes == ["EAST", "EAST-S", "EAST-N"]
