"""The warnings flow in a browser: the HR admin writes a rule, previews it and saves it; the
sweep raises an alert; the manager finds it on his phone and acknowledges it."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from kaohe.alerts.models import Alert, Status
from kaohe.alerts.sweep import sweep
from kaohe.front.tests.browser import fits_the_screen, log_in
from kaohe.lib import clock
from kaohe.pips.models import Plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hr_admin_previews_and_saves_a_rule_and_the_manager_acknowledges_its_alert(
    cast, desktop, phone, screenshot
):
    today = clock.now().date()
    Plan.objects.create(
        employee=cast.amy, title="销售改进计划", starts_on=today - dt.timedelta(days=90),
        due_on=today - dt.timedelta(days=30), created_at=clock.now(),
    )  # fmt: skip

    log_in(desktop, "ada")
    desktop.goto("/settings/rules/")
    desktop.click("a[href='/settings/rules/new/']")
    desktop.fill("#id_code", "pip-late")
    desktop.fill("#id_name", "改进计划逾期")
    desktop.select_option("#id_kind", "pip_overdue")
    expect(desktop.locator("#id_days")).to_have_value("10")
    desktop.select_option("#id_day_kind", "calendar")
    desktop.select_option("#id_level", "level2")
    desktop.click("#preview-button")
    expect(desktop.locator("#preview-today")).to_be_visible()
    expect(desktop.locator("#preview-result")).to_contain_text("艾米")
    expect(desktop.locator("#preview-months tbody tr")).to_have_count(12)
    screenshot(desktop, "rule-preview")
    desktop.click("#rule-form button[type=submit]")
    expect(desktop.locator(".msg-success")).to_be_visible()
    expect(desktop.locator("#rule-history")).to_contain_text("1")
    screenshot(desktop, "rule-saved")

    sweep()
    alert = Alert.objects.get()
    assert alert.employee == cast.amy
    desktop.goto("/alerts/")
    expect(desktop.locator("#alert-summary")).to_contain_text("改进计划逾期")
    screenshot(desktop, "alert-summary")

    log_in(phone, "mike")
    phone.goto("/alerts/")
    expect(phone.locator("#alerts")).to_contain_text("艾米")
    assert fits_the_screen(phone)
    screenshot(phone, "alert-list")
    phone.click(f"a[href='/alerts/{alert.pk}/']")
    expect(phone.locator("#alert-figures")).to_contain_text("销售改进计划")
    phone.fill("#id_comment", "已与艾米面谈，本周补交计划")
    phone.click("#acknowledge-form button[type=submit]")
    expect(phone.locator("#alert-comment")).to_contain_text("已与艾米面谈")
    expect(phone.locator("#alert-entries tbody a")).to_have_count(3)  # raised, notified, ack
    assert fits_the_screen(phone)
    screenshot(phone, "alert-acknowledged")
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED and alert.comment.startswith("已与艾米面谈")
