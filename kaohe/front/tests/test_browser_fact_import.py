"""The HR admin imports a facts file in the browser and downloads the rejected rows."""

import openpyxl
import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import fits_the_screen, log_in
from kaohe.integrations.tests.factories import make_source
from kaohe.metrics.testing import make_sales_metrics

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = [
    "外部编号,员工编号,指标,数值,发生时间,属性.客户",
    "D-1001,E0003,sales_amount,125000.00,2026-01-15 10:00,华东某客户",
    'D-1002,E0003,sales_amount,"8,800.50",2026-01-20,',
    "D-1003,E9999,sales_amount,100,2026-01-21,",
    "D-1004,E0004,sales_amount,很多,2026-01-22,",
]


@pytest.fixture
def facts_csv(cast, tmp_path):
    make_sales_metrics()
    make_source("crm", name="销售CRM")
    path = tmp_path / "crm-2026-01.csv"
    path.write_bytes(("\n".join(ROWS) + "\n").encode("gbk"))
    return path


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_hr_admin_imports_facts_and_downloads_the_problems(
    facts_csv, request, screen, screenshot, tmp_path
):
    page = request.getfixturevalue(screen)
    log_in(page, "ada")
    page.goto("/facts/import/")
    expect(page.locator("#id_file")).to_be_visible()
    page.select_option("#id_source", "crm")
    page.set_input_files("#id_file", str(facts_csv))
    screenshot(page, "form")
    page.click("main button.btn-primary")

    counts = page.locator("#import-result dd")
    expect(counts).to_have_text(["4", "2", "0", "0", "0", "2"])  # read, created, ..., rejected
    problems = page.locator("#import-problems tbody tr")
    expect(problems).to_have_count(2)
    expect(problems.first).to_contain_text("员工编号")
    assert fits_the_screen(page)
    screenshot(page, "result")

    with page.expect_download() as download:
        page.click("a[href='?report=xlsx']")
    saved = tmp_path / "problems.xlsx"
    download.value.save_as(saved)
    rows = list(openpyxl.load_workbook(saved).active.iter_rows(values_only=True))
    assert [row[:2] for row in rows[1:]] == [(4, "员工编号"), (5, "数值")]
