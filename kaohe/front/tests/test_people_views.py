import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kaohe.org.testing import make_employee

pytestmark = pytest.mark.django_db
LIST = reverse("front:employee_list")


def test_hr_searches_people_by_name_and_number(cast, client_for):
    client = client_for(cast.hazel)
    assert "艾米" in client.get(LIST, {"q": "艾"}).content.decode()
    page = client.get(LIST, {"q": "E0002"}).content.decode()
    assert "马克" in page and "艾米" not in page


def test_the_unit_filter_includes_sub_units(cast, client_for):
    page = client_for(cast.ada).get(LIST, {"unit": "EAST"}).content.decode()
    assert "艾米" in page and "奥尔加" not in page


def test_an_htmx_search_returns_only_the_rows(cast, client_for):
    response = client_for(cast.hazel).get(LIST, {"q": "艾"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body and "艾米" in body


def test_a_manager_sees_his_team_list_and_an_employee_gets_403(cast, client_for):
    page = client_for(cast.mike.user).get(LIST).content.decode()
    assert "艾米" in page and reverse("front:employee_detail", args=["E0001"]) not in page
    assert client_for(cast.amy.user).get(LIST).status_code == 403


def test_the_list_query_count_does_not_grow_with_rows(cast, client_for):
    client = client_for(cast.ada)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    for i in range(40):
        make_employee(f"E9{i:03d}", f"员工{i}", cast.south, manager=cast.olga)
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)
    assert len(many) == len(few)


def test_the_detail_page_shows_history_and_manager_chain(cast, client_for):
    page = client_for(cast.hazel).get(reverse("front:employee_detail", args=["E0003"]))
    body = page.content.decode()
    assert "马克 → 杜拉" in body and "2020-03-01" in body
    assert "发送重设密码链接" not in body, "only an HR admin may reset an existing password"
    admin_view = client_for(cast.ada).get(reverse("front:employee_detail", args=["E0003"]))
    assert "发送重设密码链接" in admin_view.content.decode()


def test_a_manager_sees_a_report_but_no_invite_button(cast, client_for):
    body = client_for(cast.mike.user).get(reverse("front:employee_detail", args=["E0003"]))
    assert body.status_code == 200
    assert reverse("front:invite", args=["E0003"]) not in body.content.decode()


def test_the_org_chart_shows_the_units_in_scope(cast, client_for):
    body = client_for(cast.hazel).get(reverse("front:org_tree")).content.decode()
    assert "华东销售部" in body and "华南大区" not in body
    assert client_for(cast.mike.user).get(reverse("front:org_tree")).status_code == 403


def test_my_profile_shows_my_record(cast, client_for):
    body = client_for(cast.amy.user).get(reverse("front:my_profile")).content.decode()
    assert "E0003" in body and "马克" in body


def test_reports_outside_the_viewers_reach_are_not_listed(cast, client_for):
    make_employee("E0200", "南区下属", cast.south, manager=cast.amy)
    body = client_for(cast.hazel).get(reverse("front:employee_detail", args=["E0003"]))
    assert "南区下属" not in body.content.decode()
    body = client_for(cast.ada).get(reverse("front:employee_detail", args=["E0003"]))
    assert "南区下属" in body.content.decode()


def test_the_employee_page_lists_her_documents_for_hr_and_her_manager_only(cast, client_for):
    from kaohe.signing.testing import make_document

    document = make_document(cast.amy, title="艾米的考核结果")
    for user in (cast.hazel, cast.mike.user):
        page = client_for(user).get("/people/E0003/").content.decode()
        assert 'id="employee-documents"' in page and f"/documents/{document.public_id}/" in page
    assert client_for(cast.harry).get("/people/E0003/").status_code == 404
