"""In a desktop browser: an HR admin creates a source from the DingTalk preset, hands its
secret to the sender, and reads the request log of what the sender then posted."""

import json
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import log_in
from kaohe.integrations.hooks import sign
from kaohe.integrations.tests.vendor_samples import DINGTALK_LIST
from kaohe.metrics.testing import make_sales_metrics

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send(base_url: str, body: dict, secret: str, *, age: int = 0) -> int:
    raw = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (the live server's http:// URL)
        f"{base_url}/api/v1/hooks/attendance",
        data=raw,
        headers={"Content-Type": "application/json",
                 "X-Kaohe-Signature": sign(secret, int(time.time()) - age, raw)},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_hr_admin_creates_a_source_from_a_preset_and_reads_the_request_log(
    cast, desktop, live_server, screenshot
):
    make_sales_metrics()  # days_present may come from "attendance"
    log_in(desktop, "ada")
    desktop.goto("/settings/sources/")
    desktop.click("a[href='/settings/sources/new/']")
    desktop.fill("#id_code", "attendance")
    desktop.fill("#id_name", "钉钉考勤")
    desktop.select_option("#id_preset", "dingtalk_attendance")
    desktop.fill("#id_employees", "manager3451, E0003")
    desktop.fill("#id_silent_after_hours", "24")
    screenshot(desktop, "new")
    desktop.click("form.card button[type=submit]")
    expect(desktop.locator("h1")).to_contain_text("钉钉考勤")
    expect(desktop.locator("#settings")).to_contain_text("获取打卡结果")
    expect(desktop.locator("#metrics")).to_contain_text("days_present")

    desktop.click("#rotate-secret")
    secret = desktop.input_value("#new-secret")
    assert secret.startswith("whsec_")
    screenshot(desktop, "secret")

    assert send(live_server.url, DINGTALK_LIST, secret) == 200
    assert send(live_server.url, DINGTALK_LIST, secret, age=600) == 401
    records = [dict(r) for r in DINGTALK_LIST["recordresult"]]
    records[2]["userCheckTime"] = "下午三点"
    assert send(live_server.url, {**DINGTALK_LIST, "recordresult": records}, secret) == 200

    desktop.goto("/settings/deliveries/?source=attendance")
    rows = desktop.locator("table.deliveries tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("600")  # why the stale one was refused
    screenshot(desktop, "log")
    rows.nth(0).locator("a").click()
    expect(desktop.locator("#rejections")).to_contain_text("#2")
    expect(desktop.locator("#rejections")).to_contain_text("userCheckTime")
    screenshot(desktop, "delivery")

    desktop.goto("/settings/sources/")
    expect(desktop.locator("#sources")).to_contain_text("days_present")
    screenshot(desktop, "sources")
