"""What only a browser shows: the employee's own progress on a phone, the htmx period
switch, and HR drafting and publishing an agreement on a desktop."""

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import fits_the_screen, log_in
from kaohe.lib import clock
from kaohe.lib.periods import Period, PeriodKind
from kaohe.metrics.actions import ItemSpec, do_draft_agreement, do_publish_agreement, do_set_items
from kaohe.metrics.models import Actual, AgreementState, TargetAgreement
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.actions import company_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHRASES = ("已完成目标的30%", "30% of target reached")


def put(employee, metric, month: dt.date, total: str, count=1):
    Actual.objects.create(
        employee=employee, metric=metric, month=month, org_unit=employee.org_unit,
        total_e4=int(Decimal(total) * 10_000), count=count, updated_at=clock.now(),
    )  # fmt: skip


def test_amy_follows_her_progress_on_her_phone(cast, phone, screenshot):
    m = make_sales_metrics()
    quarter = Period.containing(PeriodKind.QUARTER, company_today())
    version = do_draft_agreement(cast.hazel, cast.amy, quarter)
    do_set_items(cast.hazel, version, [
        ItemSpec(m["sales_amount"], "300000", "70"),
        ItemSpec(m["attendance_rate"], "100", "30"),
    ])  # fmt: skip
    do_publish_agreement(cast.hazel, version)
    first, second, _third = quarter.months
    put(cast.amy, m["sales_amount"], first, "45000")
    put(cast.amy, m["sales_amount"], second, "15000")  # 60000 of 300000: 20 %
    put(cast.amy, m["days_present"], first, "11")
    put(cast.amy, m["days_required"], first, "22")  # 50 %: 0.7 × 20 + 0.3 × 50 = 29

    log_in(phone, "amy")
    expect(phone).to_have_url("/me/")
    section = phone.locator("#attainment")
    expect(section).to_contain_text(quarter.label)
    headline = section.locator(".att-headline").inner_text()
    assert headline in ("已完成目标的29%", "29% of target reached"), headline
    expect(section.locator("svg.att-chart").first).to_be_visible()
    assert fits_the_screen(phone)
    screenshot(phone, "quarter")

    section.locator(".att-switch a").first.click()  # this month, through htmx
    month = Period.containing(PeriodKind.MONTH, company_today())
    expect(phone.locator("#attainment .att-label")).to_have_text(month.label)
    expect(phone).to_have_url("/me/")  # swapped in place
    assert fits_the_screen(phone)
    screenshot(phone, "month")

    phone.click("a[href='/people/E0003/targets/']")
    phone.click(f"a[href='/people/E0003/targets/{quarter.label}/']")
    expect(phone.locator("#in-force")).to_contain_text("300000")
    assert phone.locator("#draft").count() == 0
    assert fits_the_screen(phone)
    screenshot(phone, "agreement")


def test_the_phrase_reads_30_percent_in_the_own_language(cast, phone):
    m = make_sales_metrics()
    quarter = Period.containing(PeriodKind.QUARTER, company_today())
    version = do_draft_agreement(cast.hazel, cast.amy, quarter)
    do_set_items(cast.hazel, version, [ItemSpec(m["sales_amount"], "300000", "100")])
    do_publish_agreement(cast.hazel, version)
    put(cast.amy, m["sales_amount"], quarter.start, "90000")
    log_in(phone, "amy")
    text = phone.locator("#attainment .att-headline").inner_text()
    assert text in PHRASES, text


def test_hr_drafts_and_publishes_an_agreement_on_a_desktop(cast, desktop, screenshot):
    make_sales_metrics()
    quarter = Period.containing(PeriodKind.QUARTER, company_today())
    log_in(desktop, "hazel")
    desktop.goto("/people/E0003/")
    desktop.click("a[href='/people/E0003/targets/']")
    desktop.fill("#id_period", quarter.label)
    desktop.click("form.card button[type=submit]")
    expect(desktop).to_have_url(f"/people/E0003/targets/{quarter.label}/")

    desktop.select_option("#id_items-0-metric", "sales_amount")
    desktop.fill("#id_items-0-target", "300000")
    desktop.fill("#id_items-0-weight", "70")
    desktop.locator("#draft details").first.locator("summary").click()
    for month, value in zip(quarter.months, ("80000", "100000", "120000"), strict=True):
        desktop.fill(f"#id_items-0-month_{month:%Y_%m}", value)
    desktop.select_option("#id_items-1-metric", "deals_signed")
    desktop.fill("#id_items-1-target", "12")
    desktop.fill("#id_items-1-weight", "30")
    screenshot(desktop, "draft")
    desktop.click("#draft form:not(.inline) button[type=submit]")
    expect(desktop.locator(".msg-success")).to_be_visible()

    desktop.click("#draft .actions form:first-child button")
    expect(desktop.locator("#in-force")).to_contain_text("300000")
    expect(desktop.locator("#versions")).to_contain_text("hazel")
    screenshot(desktop, "published")
    agreement = TargetAgreement.objects.get(employee=cast.amy)
    assert agreement.in_force.state == AgreementState.PUBLISHED
    assert agreement.in_force.items.get(metric__code="sales_amount").monthly == {
        f"{month:%Y-%m}": value
        for month, value in zip(quarter.months, ("80000", "100000", "120000"), strict=True)
    }

    desktop.goto("/people/E0003/")
    expect(desktop.locator("#attainment")).to_contain_text(quarter.label)
    screenshot(desktop, "employee")
