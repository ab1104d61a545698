import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from kaohe.org.models import Company, WorkdayOverride

pytestmark = pytest.mark.django_db
PAGE = reverse("front:company_settings")
FORM = {
    "name": "新公司",
    "timezone": "Asia/Urumqi",
    "has_union": "on",
    "deadline_day_kind": "calendar",
}


def test_the_hr_admin_changes_the_company_settings(cast, client_for):
    response = client_for(cast.ada).post(PAGE, FORM)
    assert response.status_code == 302
    company = Company.get()
    assert (company.name, company.timezone, company.has_union) == ("新公司", "Asia/Urumqi", True)


def test_an_unknown_timezone_is_refused_with_a_clear_error(cast, client_for):
    response = client_for(cast.ada).post(PAGE, {**FORM, "timezone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "不是已知的时区" in response.content.decode()
    assert Company.get().timezone == "Asia/Shanghai"


def test_hr_partners_and_auditors_may_read_but_not_change_them(cast, client_for):
    for user in (cast.harry, cast.audrey):
        client = client_for(user)
        assert client.get(PAGE).status_code == 200
        assert client.post(PAGE, FORM).status_code == 403
    assert Company.get().name == "测试公司"


def test_employees_may_not_open_the_settings(cast, client_for):
    assert client_for(cast.amy.user).get(PAGE).status_code == 403


def test_the_admin_adds_and_removes_a_working_day_exception(cast, client_for):
    client = client_for(cast.ada)
    data = {"date": "2026-10-09", "is_working_day": "0", "note": "公司周年庆"}
    client.post(reverse("front:workday_override"), data)
    assert WorkdayOverride.objects.get().date == dt.date(2026, 10, 9)
    assert "公司周年庆" in client.get(PAGE).content.decode()
    client.post(reverse("front:remove_workday_override", args=["2026-10-09"]))
    assert not WorkdayOverride.objects.exists()


def test_a_bad_exception_date_changes_nothing(cast, client_for):
    client = client_for(cast.ada)
    response = client.post(reverse("front:workday_override"), {"date": "2026-13-40"}, follow=True)
    assert "请输入有效日期" in response.content.decode()
    assert client.post(reverse("front:remove_workday_override", args=["nope"])).status_code == 404
    assert not WorkdayOverride.objects.exists()


def test_an_hr_partner_cannot_add_exceptions(cast, client_for):
    data = {"date": "2026-10-09", "is_working_day": "0"}
    assert client_for(cast.harry).post(reverse("front:workday_override"), data).status_code == 403


@time_machine.travel(dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC), tick=False)
def test_the_page_warns_that_next_years_schedule_is_estimated(cast, client_for):
    client_for(cast.ada).post(
        reverse("front:workday_override"), {"date": "2027-02-20", "is_working_day": "1"}
    )
    page = client_for(cast.ada).get(PAGE).content.decode()
    assert re.search(r'data-estimated-year="2027">\s*(The 2027 schedule is estimated|2027)', page)
    assert re.search(r"(Exceptions entered for 2027|2027).*[:：] ?1", page)
    assert 'data-estimated-year="2026"' not in page


@time_machine.travel(dt.datetime(2025, 5, 6, 2, 0, tzinfo=dt.UTC), tick=False)
def test_no_warning_while_both_years_in_use_are_official(cast, client_for):
    assert "data-estimated-year" not in client_for(cast.ada).get(PAGE).content.decode()


@time_machine.travel(dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC), tick=False)
def test_the_years_in_use_follow_the_company_timezone(cast, client_for):
    # 17:00 UTC on 31 December is already 1 January 2027 in Shanghai: 2028 is in use too.
    page = client_for(cast.ada).get(PAGE).content.decode()
    assert 'data-estimated-year="2027"' in page
    assert 'data-estimated-year="2028"' in page


def test_the_settings_page_lists_what_each_role_may_open(cast, client_for):
    admin = client_for(cast.ada).get("/settings/")
    assert admin.status_code == 200
    pages = ("/settings/company/", "/settings/rules/", "/settings/roles/", "/settings/api-keys/")
    for url in pages:
        assert url.encode() in admin.content, url
    partner = client_for(cast.harry).get("/settings/")
    assert b"/settings/company/" in partner.content and b"/settings/rules/" not in partner.content
    assert client_for(cast.olga.user).get("/settings/").status_code == 403
