import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django would then refuse
# the ORM calls the tests make to set up data. Tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language (zh-Hans), whatever a previous test in the
    same worker activated (a request in English, a management command)."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _own_ledger_key(settings, tmp_path):
    """Each test signs checkpoints with a key of its own, beside which the signer keeps its
    copy of the latest checkpoint (kaohe.ledger.witness): one test's log must not be held
    to another's."""
    settings.LEDGER_KEY_FILE = tmp_path / "keys" / "ledger-ed25519.pem"


@pytest.fixture(autouse=True)
def _fast_test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def cast(db):
    from kaohe.org.testing import make_cast

    return make_cast()


@pytest.fixture
def client_for(client):
    """client_for(user) -> a test client logged in as `user`."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM = os.environ.get("KAOHE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts")


@pytest.fixture(scope="session")
def browser():
    """The system Chromium through Playwright. Missing browser: skip locally, fail in CI."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing; install it with: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser, live_server):
    """A page on a 390 px wide phone screen, pointed at the live server."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True, locale="zh-CN", base_url=live_server.url,
    )  # fmt: skip
    yield context.new_page()
    context.close()


@pytest.fixture
def desktop(browser, live_server):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", base_url=live_server.url
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshot(request):
    """screenshot(page, name) saves test-artifacts/screenshots/<test>-<name>.png."""
    folder = os.path.join(SCREENSHOTS, "screenshots")
    os.makedirs(folder, exist_ok=True)

    def take(page, name: str) -> str:
        path = os.path.join(folder, f"{request.node.name}-{name}.png")
        page.screenshot(path=path, full_page=True)
        return path

    return take


@pytest.fixture(autouse=True)
def _official_schedule_up_to_2026(monkeypatch):
    """The tests are written against chinesecalendar 1.11, which knows the official working
    days up to 2026: a later release that knows 2027 must not turn the tests of the
    estimated fallback (2027) into tests of the official schedule."""
    from kaohe.lib import workdays

    official = workdays._official_rest_days

    def up_to_2026(year: int):
        return official(year) if year <= 2026 else None

    workdays.base_rest_days.cache_clear()
    monkeypatch.setattr(workdays, "_official_rest_days", up_to_2026)
    yield
    workdays.base_rest_days.cache_clear()
