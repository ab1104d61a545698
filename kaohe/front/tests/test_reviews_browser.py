"""The assessment flow in a browser: the manager scores amy on his phone, HR publishes the
cycle from its page and sees the progress of the result documents."""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from kaohe.front.tests.browser import fits_the_screen, log_in
from kaohe.reviews.actions import do_adjust_item, do_publish_standard, do_start_scoring
from kaohe.reviews.models import ItemKind, ResultState
from kaohe.reviews.testing import give_sales, make_cycle
from kaohe.signing.testing import use_fake_renderer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fast_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def test_the_manager_scores_on_his_phone_and_hr_publishes_the_cycle(
    cast, desktop, phone, screenshot
):
    with time_machine.travel(dt.datetime(2025, 12, 20, 2, tzinfo=dt.UTC), tick=False):
        cycle = make_cycle(cast)
        do_publish_standard(cast.ada, cycle)
    give_sales(cast, [cast.amy, cast.mike, cast.dora], sold={"E0003": 90_000})
    do_start_scoring(cast.ada, cycle)
    for result in cycle.results.exclude(employee=cast.amy):
        item = result.items.get(item__kind=ItemKind.QUALITATIVE).item_id
        do_adjust_item(cast.ada, result, item, "70", "校准")
    amy = cycle.results.get(employee=cast.amy)

    log_in(phone, "mike")
    phone.goto(f"/cycles/{cycle.public_id}/")
    phone.click(f"tr[data-result='{amy.public_id}'] a")
    phone.fill(".score-form input[name=score]", "80")
    phone.fill(".score-form textarea[name=comment]", "积极配合团队")
    screenshot(phone, "manager-scores")
    phone.click(".score-form button")
    expect(phone.locator(".msg-success")).to_be_visible()
    expect(phone.locator("#total")).to_have_text("86.00")
    expect(phone.locator("#versions li[data-version='2']")).to_contain_text("80.00")
    assert fits_the_screen(phone)
    screenshot(phone, "manager-scored")

    log_in(desktop, "hazel")
    desktop.goto(f"/cycles/{cycle.public_id}/")
    desktop.click("#publish-all")
    expect(desktop.locator(".msg-success")).to_be_visible()
    expect(desktop.locator("#unconfirmed-banner")).to_have_attribute("data-count", "3")
    expect(desktop.locator("a[data-status=published]")).to_have_attribute("data-count", "3")
    screenshot(desktop, "cycle-published")
    desktop.click("a[data-status=unconfirmed]")
    expect(desktop.locator("#result-table tbody tr")).to_have_count(3)
    amy.refresh_from_db()
    assert amy.state == ResultState.PUBLISHED
