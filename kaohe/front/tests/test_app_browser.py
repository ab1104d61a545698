"""The employee app on a 390 px phone: registering a passkey with Chromium's virtual
authenticator and signing with it (then checking the signature, the sealed letter and the
receipt the way an outsider would), the password fallback with a drawn signature, the
dispute path, and the offline page of the service worker."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kaohe.front.tests.browser import fits_the_screen, log_in
from kaohe.lib import clock
from kaohe.signing.models import DocumentState, Letter, Method, Signature
from kaohe.signing.testing import make_document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent
LETTER_PY = Path(__file__).resolve().parents[2] / "signing" / "letter.py"
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}


@pytest.fixture(autouse=True)
def _passkeys_on_the_live_server(settings, live_server):
    # WebAuthn needs a secure context: http://localhost is one (the live server's host).
    assert live_server.url.startswith("http://localhost:")
    settings.KAOHE_WEBAUTHN_RP_ID = "localhost"
    settings.KAOHE_WEBAUTHN_ORIGINS = [live_server.url]


@pytest.fixture
def doc(cast):
    return make_document(cast.amy, due_at=clock.now() + dt.timedelta(days=3))


def open_from_the_list(page, document) -> None:
    page.goto("/app/")
    page.click(f'[data-document="{document.public_id}"] a')
    expect(page.locator("#doc-content")).to_be_visible()


def read_to_the_end(page, button: str) -> None:
    expect(page.locator(button)).to_be_disabled()
    expect(page.locator("#read-hint")).to_be_visible()
    page.locator("#read-sentinel").scroll_into_view_if_needed()
    expect(page.locator(button)).to_be_enabled()
    expect(page.locator("#read-hint")).to_be_hidden()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_amy_adds_a_passkey_and_signs_her_result_with_it(
    cast, doc, phone, screenshot, live_server, tmp_path
):
    log_in(phone, "amy")
    phone.goto("/me/")
    phone.click("#profile-passkeys")
    expect(phone.locator("#no-passkeys")).to_be_visible()
    screenshot(phone, "1-passkeys-empty")
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    phone.fill("#passkey-name", "测试手机")
    phone.click("#add-passkey")
    expect(phone.locator(".passkey")).to_contain_text("测试手机")
    assert fits_the_screen(phone)
    screenshot(phone, "2-passkey-added")

    phone.goto("/app/")
    expect(phone.locator("#waiting .doc-item")).to_have_count(1)
    assert fits_the_screen(phone)
    screenshot(phone, "3-list")
    open_from_the_list(phone, doc)
    assert fits_the_screen(phone)
    screenshot(phone, "4-document")
    read_to_the_end(phone, "#sign-passkey")
    screenshot(phone, "5-read")
    phone.click("#sign-passkey")
    expect(phone.locator("#signed")).to_be_visible()
    assert phone.url.endswith(f"/app/documents/{doc.public_id}/done/")
    expect(phone.locator("#signed")).to_have_attribute("data-method", "passkey")
    assert fits_the_screen(phone)
    screenshot(phone, "6-done")

    signature = Signature.objects.select_related("document__employee").get(document=doc)
    assert signature.method == Method.PASSKEY
    from kaohe.signing.integrity import reverify

    reverify(signature)  # raises unless the archived assertion binds this document

    receipt = tmp_path / "receipt.json"
    with phone.expect_download() as download:
        phone.click("#download-receipt")
    download.value.save_as(receipt)
    keys = phone.request.get("/api/v1/ledger/keys")
    (tmp_path / "keys.json").write_bytes(keys.body())
    checked = run(str(BIN / "kaohe"), "verify", "receipt.json", "--keys", "keys.json", cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout.startswith("OK"), checked.stdout

    if not LETTER_PY.exists():
        pytest.skip("kaohe/signing/letter.py is missing: the sealed letter was not checked")
    letter = Letter.objects.get(document=doc)
    with phone.expect_download() as download:
        phone.click("#download-letter")
    download.value.save_as(tmp_path / "letter.pdf")
    assert (tmp_path / "letter.pdf").read_bytes() == bytes(letter.pdf)
    from kaohe.signing.seal import ca_certificate_pem

    (tmp_path / "ca.pem").write_bytes(ca_certificate_pem())
    validated = run(
        str(BIN / "pyhanko"), "sign", "validate", "--no-revocation-check", "--trust", "ca.pem",
        "--trust-replace", "letter.pdf", cwd=tmp_path,
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "INTACT" in validated.stdout and "UNTRUSTED" not in validated.stdout, validated.stdout


def test_amy_confirms_with_her_password_and_a_drawn_signature(cast, doc, phone, screenshot):
    log_in(phone, "amy")
    open_from_the_list(phone, doc)
    expect(phone.locator("#sign-passkey")).to_have_count(0)  # no passkey: the fallbacks
    read_to_the_end(phone, "#sign-with-password")
    phone.click("#drawn summary")
    pad = phone.locator("#drawn-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    phone.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    phone.mouse.down()
    for step in range(1, 12):
        x = box["x"] + 20 + step * (box["width"] - 40) / 11
        y = box["y"] + box["height"] * (0.7 - 0.4 * (step % 2))
        phone.mouse.move(x, y, steps=3)
    phone.mouse.up()
    phone.fill("#sign-password", "wrong-password")
    phone.click("#sign-with-password")
    expect(phone.locator("#sign-error")).to_be_visible()
    screenshot(phone, "1-wrong-password")
    phone.fill("#sign-password", "test-pass-123")
    screenshot(phone, "2-drawn")
    phone.click("#sign-with-password")
    expect(phone.locator("#signed")).to_have_attribute("data-method", "password")
    assert fits_the_screen(phone)
    screenshot(phone, "3-done")
    signature = Signature.objects.get(document=doc)
    assert signature.method == Method.PASSWORD
    assert bytes(signature.drawn_png).startswith(b"\x89PNG")


def test_amy_disputes_and_reads_hrs_answer(cast, doc, phone, screenshot):
    from kaohe.signing.actions import do_answer_dispute

    log_in(phone, "amy")
    open_from_the_list(phone, doc)
    phone.click("#dispute-open")
    phone.fill("#dispute-reason", "销售额少算了12月的两笔订单，请核实。")
    screenshot(phone, "1-form")
    phone.click("#dispute-submit")
    expect(phone.locator("#dispute-waiting")).to_be_visible()
    expect(phone.locator("#doc-state")).to_have_attribute("data-state", "disputed")
    assert fits_the_screen(phone)
    screenshot(phone, "2-sent")
    doc.refresh_from_db()
    assert doc.state == DocumentState.DISPUTED
    do_answer_dispute(
        cast.hazel, doc.disputes.get(), "两笔订单的回款在1月，计入下季度。", "rejected"
    )
    phone.reload()
    expect(phone.locator(".dispute-answer")).to_contain_text("计入下季度")
    expect(phone.locator(".dispute")).to_have_attribute("data-outcome", "rejected")
    screenshot(phone, "3-answered")


def test_the_app_shell_works_offline_without_keeping_documents(cast, doc, phone, screenshot):
    log_in(phone, "amy")
    phone.goto("/app/")
    assert phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()  # now controlled by the service worker
    phone.context.set_offline(True)
    phone.reload()
    expect(phone.locator("#offline")).to_be_visible()
    assert fits_the_screen(phone)
    screenshot(phone, "offline")
    cached = phone.evaluate(
        "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k)"
        ".then(c => c.keys())))).then(ls => ls.flat().map(r => new URL(r.url).pathname))"
    )
    assert "/app/offline/" in cached
    assert not [path for path in cached if "/documents/" in path or path == "/app/"]
    phone.goto(f"/app/documents/{doc.public_id}/")
    expect(phone.locator("#offline")).to_be_visible()
