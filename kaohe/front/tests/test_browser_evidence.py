"""The evidence pages on a phone: the auditor's search and an employee's own record."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import log_in
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.org import actions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(cast):
    actions.do_change_manager(cast.hazel, cast.amy, cast.dora, dt.date(2026, 1, 5), "团队调整")
    actions.do_update_company(cast.ada, has_union=True)
    make_checkpoint(force=True)


def test_the_auditor_finds_an_employees_entries_and_opens_one(cast, history, phone, screenshot):
    log_in(phone, "audrey")
    phone.click("label.nav-burger")
    phone.click("nav >> text=证据")
    expect(phone.locator("h1")).to_have_text("证据账本")
    expect(phone.locator("main")).to_contain_text("company.settings.changed")
    phone.fill("#id_employee", "E0003")
    phone.click("form.filters button[type=submit]")
    expect(phone.locator("table").last).not_to_contain_text("company.settings.changed")
    screenshot(phone, "search")
    phone.click("table >> nth=-1 >> a >> nth=0")
    expect(phone.locator("pre.json")).to_contain_text("团队调整")
    expect(phone.locator("main")).to_contain_text("下载证明")
    screenshot(phone, "entry")


def test_an_employee_reads_her_own_evidence_record(cast, history, phone, screenshot):
    log_in(phone, "amy")
    phone.click("text=我的证据记录")
    expect(phone.locator("main")).to_contain_text("org.employee.manager_changed")
    expect(phone.locator("main")).not_to_contain_text("company.settings.changed")
    screenshot(phone, "mine")
