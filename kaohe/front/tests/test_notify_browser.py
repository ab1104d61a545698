"""The inbox in a browser: a notification arrives, the badge counts it, reading it clears it."""

import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import log_in
from kaohe.notify.send import Message, notify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_notification_shows_in_the_badge_and_reading_it_clears_it(cast, desktop, screenshot):
    log_in(desktop, "amy")
    badge = desktop.locator("#inbox-badge")
    expect(badge).to_be_hidden()

    title, body = "一级预警：连续两个月未达标", "销售额达成率 72%、75%。"
    notify([cast.amy.user], Message("alert.raised", title, body, url="/me/", level="warning"))
    desktop.goto("/inbox/")

    expect(badge).to_have_text("1")
    expect(desktop.locator("#inbox li.unread")).to_contain_text("一级预警：连续两个月未达标")
    screenshot(desktop, "unread")
    desktop.click("#inbox li.unread button.mark-read")

    expect(badge).to_be_hidden()
    expect(desktop.locator("#inbox li.unread")).to_have_count(0)
    expect(desktop.locator("#inbox")).to_contain_text("一级预警：连续两个月未达标")
    screenshot(desktop, "read")
    desktop.reload()
    expect(badge).to_be_hidden()


def test_mark_all_read_on_a_phone(cast, phone, screenshot):
    for number in (1, 2):
        notify([cast.amy.user], Message("x", title=f"提醒 {number}", body="正文"))
    log_in(phone, "amy")
    phone.goto("/inbox/")
    expect(phone.locator("#inbox-badge")).to_have_text("2")

    phone.click("#read-all")

    expect(phone.locator("#inbox li.unread")).to_have_count(0)
    expect(phone.locator("#inbox-badge")).to_be_hidden()
    screenshot(phone, "all-read")
