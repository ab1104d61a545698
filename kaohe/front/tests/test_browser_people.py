"""What only a browser shows: the phone layout, the htmx search, the menu, the language."""

import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import fits_the_screen, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_hr_partner_works_the_people_list_on_a_phone(cast, phone, screenshot):
    phone.goto("/")
    expect(phone.locator("h1")).to_have_text("登录 kaohe 考核")
    screenshot(phone, "login")
    log_in(phone, "hazel")
    expect(phone).to_have_url("/people/")
    expect(phone.locator("#people")).to_contain_text("艾米")
    expect(phone.locator("#people")).not_to_contain_text("奥尔加")
    assert fits_the_screen(phone)
    screenshot(phone, "list")

    phone.fill("#id_q", "马克")
    expect(phone.locator("#people-count")).to_have_text("1 人")
    expect(phone).to_have_url("/people/?q=%E9%A9%AC%E5%85%8B&unit=&status=")
    screenshot(phone, "search")

    phone.click("text=马克")
    expect(phone.locator("h1")).to_contain_text("马克")
    expect(phone.locator(".card").first).to_contain_text("华东销售部")
    assert fits_the_screen(phone)
    screenshot(phone, "detail")


def test_the_phone_menu_opens_and_shows_the_hr_console_links(cast, phone, screenshot):
    log_in(phone, "hazel")
    nav = phone.locator("nav.nav")
    expect(nav).to_be_hidden()
    phone.click("label.nav-burger")
    expect(nav).to_be_visible()
    expect(nav).to_contain_text("组织架构")
    expect(nav).to_contain_text("导入")
    screenshot(phone, "menu")


def test_an_employee_sees_her_profile_and_nothing_of_others(cast, phone, screenshot):
    log_in(phone, "amy")
    expect(phone).to_have_url("/me/")
    expect(phone.locator("main")).to_contain_text("艾米")
    expect(phone.locator("main")).to_contain_text("马克")
    assert fits_the_screen(phone)
    screenshot(phone, "profile")
    phone.click("label.nav-burger")
    expect(phone.locator("nav.nav")).not_to_contain_text("人员")
    phone.goto("/people/")
    expect(phone.locator("h1")).to_have_text("您无权打开此页面")
    phone.goto("/people/E0004/")
    expect(phone.locator("h1")).to_have_text("未找到")
    screenshot(phone, "refused")


def test_switching_the_language_to_english(cast, phone, screenshot):
    log_in(phone, "amy")
    phone.click("footer button[value=en]")
    expect(phone.locator("h1")).to_have_text("My profile")
    screenshot(phone, "english")


def test_the_people_list_on_a_desktop(cast, desktop, screenshot):
    log_in(desktop, "ada")
    expect(desktop.locator("#people")).to_contain_text("奥尔加")
    expect(desktop.locator("nav.nav")).to_be_visible()
    desktop.select_option("#id_unit", "EAST-S")
    expect(desktop.locator("#people-count")).to_have_text("2 人")
    screenshot(desktop, "list")
