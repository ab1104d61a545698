"""The employee app's pages and JSON endpoints: only the employee herself reaches her
documents and files; bad input answers {"error": ...} with 400, never 500."""

import base64
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.signing.models import Credential, DisputeOutcome, DocumentState, Method, Signature
from kaohe.signing.testing import SoftAuthenticator, make_document, use_fake_renderer

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture(autouse=True)
def _fast(monkeypatch, settings):
    use_fake_renderer(monkeypatch)
    settings.KAOHE_WEBAUTHN_RP_ID = "testserver"
    settings.KAOHE_WEBAUTHN_ORIGINS = [ORIGIN]


@pytest.fixture
def doc(cast):
    return make_document(cast.amy, title="艾米的考核结果")


@pytest.fixture
def amy(cast, client_for):
    return client_for(cast.amy.user)


def url(document, suffix: str = "") -> str:
    return f"/app/documents/{document.public_id}/{suffix}"


def post_json(client, path: str, body) -> tuple[int, dict]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = client.post(path, raw, content_type="application/json")
    return response.status_code, response.json()


def sign_with_password(client, document, **extra) -> tuple[int, dict]:
    status, started = post_json(client, url(document, "sign/begin/"), {"method": "password"})
    assert status == 200, started
    body = {"ceremony": started["ceremony"], "password": "test-pass-123"} | extra
    return post_json(client, url(document, "sign/finish/"), body)


# -- the PWA shell ------------------------------------------------------------------------


def test_the_manifest_is_json_with_the_app_fields(client):
    response = client.get("/app/manifest.webmanifest")
    assert response["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["name"] == "考核"
    assert manifest["start_url"] == "/app/"
    assert manifest["display"] == "standalone"
    types = {icon["type"] for icon in manifest["icons"]}
    assert {"image/svg+xml", "image/png"} <= types
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_the_service_worker_is_scoped_to_the_app_and_caches_only_the_shell(client):
    response = client.get("/app/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/app/"
    text = response.content.decode()
    shell = json.loads(text.split("const SHELL = ", 1)[1].split(";", 1)[0])
    assert "/app/offline/" in shell
    assert all(path.startswith("/static/") or path == "/app/offline/" for path in shell)
    for path in shell:
        assert client.get(path).status_code == 200, path


def test_the_offline_page_needs_no_login_and_holds_nothing_personal(cast, amy):
    response = amy.get("/app/offline/")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="offline"' in text
    assert "艾米" not in text and "csrf" not in text.lower()


# -- the list -----------------------------------------------------------------------------


def test_the_home_lists_the_users_own_documents_only(cast, doc, client_for):
    make_document(cast.olga, title="奥尔加的结果")
    text = client_for(cast.amy.user).get("/app/").content.decode()
    assert str(doc.public_id) in text and "奥尔加的结果" not in text
    assert 'id="waiting"' in text
    # Her manager and her HR partner see their own (empty) app, not hers.
    for user in (cast.mike.user, cast.hazel):
        text = client_for(user).get("/app/").content.decode()
        assert str(doc.public_id) not in text and 'id="empty"' in text


def test_the_home_queries_do_not_grow_with_documents(cast, amy):
    make_document(cast.amy, title="一")
    with CaptureQueriesContext(connection) as one:
        amy.get("/app/")
    for n in range(4):
        make_document(cast.amy, title=f"结果 {n}")
    with CaptureQueriesContext(connection) as five:
        assert amy.get("/app/").content.decode().count('class="doc-item') == 5
    assert len(five) == len(one)


def test_signed_documents_move_below_the_waiting_ones(cast, doc, amy):
    amy.post(url(doc, "read/"))
    assert sign_with_password(amy, doc)[0] == 200
    text = amy.get("/app/").content.decode()
    assert 'id="waiting"' not in text
    assert f'data-document="{doc.public_id}" data-state="signed"' in text


# -- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["olga", "harry", "hazel", "mike", "ada"])
def test_nobody_but_amy_opens_her_document_or_its_files(who, cast, doc, client_for):
    person = getattr(cast, who)
    client = client_for(getattr(person, "user", person))
    for suffix in ("", "done/", "document.pdf", "letter.pdf", "receipt.json"):
        assert client.get(url(doc, suffix)).status_code == 404, suffix
    for suffix in ("read/", "sign/begin/", "sign/finish/"):
        status, body = post_json(client, url(doc, suffix), {"method": "password"})
        assert status == 404 and "error" in body, suffix
    assert client.post(url(doc, "dispute/"), {"reason": "x"}).status_code == 404
    doc.refresh_from_db()
    assert doc.state == DocumentState.PENDING and doc.opened_at is None


def test_nobody_removes_another_persons_passkey(cast, client_for):
    authenticator = register_passkey(client_for(cast.amy.user))
    response = client_for(cast.olga.user).post(
        f"/app/passkeys/{authenticator.credential_id_b64}/revoke/"
    )
    assert response.status_code == 404
    assert Credential.objects.get(user=cast.amy.user).revoked_at is None


# -- reading and signing ------------------------------------------------------------------


def test_the_document_page_shows_the_content_and_records_the_first_opening(cast, doc, amy):
    text = amy.get(url(doc)).content.decode()
    assert "定量指标" in text and "1,000,000" in text and "本季度未完成销售目标。" in text
    assert 'id="statement"' in text and "本人已阅读并确认上述考核结果。" in text
    assert 'id="sign-with-password" disabled' in text and 'id="read-hint"' in text
    assert 'id="sign-passkey"' not in text  # no passkey yet: the fallbacks only
    doc.refresh_from_db()
    first = doc.opened_at
    assert first is not None
    amy.get(url(doc))
    doc.refresh_from_db()
    assert doc.opened_at == first


def test_reading_to_the_end_is_recorded_and_enables_signing(cast, doc, amy):
    assert post_json(amy, url(doc, "read/"), {}) == (200, {"read": True})
    doc.refresh_from_db()
    assert doc.read_at is not None
    text = amy.get(url(doc)).content.decode()
    assert 'id="sign-with-password" disabled' not in text
    assert 'data-read="1"' in text


def test_the_server_records_but_does_not_require_reading_to_the_end(cast, doc, amy):
    # The page's buttons wait for the end; the server accepts a valid signature anyway
    # (the evidence then shows no "document.read" entry before it).
    status, body = sign_with_password(amy, doc)
    assert status == 200, body
    doc.refresh_from_db()
    assert doc.state == DocumentState.SIGNED and doc.read_at is None


def test_signing_with_the_password_and_a_drawn_signature(
    cast, doc, amy, django_capture_on_commit_callbacks
):
    amy.post(url(doc, "read/"))
    drawn = "data:image/png;base64," + base64.b64encode(PNG).decode()
    with django_capture_on_commit_callbacks(execute=True):
        status, body = sign_with_password(amy, doc, drawn=drawn)
    assert (status, body) == (200, {"redirect": url(doc, "done/")})
    signature = Signature.objects.get(document=doc)
    assert signature.method == Method.PASSWORD and bytes(signature.drawn_png) == PNG
    text = amy.get(url(doc, "done/")).content.decode()
    assert 'id="signed"' in text and 'data-method="password"' in text
    assert "kaohe verify receipt.json" in text
    assert amy.get(url(doc, "document.pdf"))["Content-Type"] == "application/pdf"


def test_the_letter_and_receipt_are_served_to_the_employee(
    cast, doc, amy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sign_with_password(amy, doc)
    signature = Signature.objects.get(document=doc)
    assert signature.receipt
    receipt = amy.get(url(doc, "receipt.json"))
    assert receipt["Content-Disposition"].startswith("attachment")
    assert json.loads(receipt.content) == signature.receipt
    letter = amy.get(url(doc, "letter.pdf"))
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")


def test_the_done_page_of_an_unsigned_document_goes_back_to_it(cast, doc, amy):
    response = amy.get(url(doc, "done/"))
    assert response.status_code == 302 and response.url == url(doc)
    assert amy.get(url(doc, "letter.pdf")).status_code == 404
    assert amy.get(url(doc, "receipt.json")).status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("sign/begin/", "not json"),
        ("sign/begin/", "[1, 2]"),
        ("sign/begin/", {"method": "telepathy"}),
        ("sign/finish/", {"ceremony": "nope", "password": "x"}),
        ("sign/finish/", {"password": "x"}),
        ("sign/finish/", {"ceremony": "00000000-0000-0000-0000-000000000007", "password": "x"}),
        ("sign/finish/", {"ceremony": "00000000-0000-0000-0000-000000000007", "assertion": 5}),
        ("sign/finish/", {"ceremony": "00000000-0000-0000-0000-000000000007", "password": 5}),
        ("sign/finish/", {"ceremony": "00000000-0000-0000-0000-000000000007", "drawn": "x"}),
    ],
)
def test_bad_input_answers_400_with_an_error(path, body, cast, doc, amy):
    status, answer = post_json(amy, url(doc, path), body)
    assert status == 400 and answer["error"]
    assert not Signature.objects.exists()


def test_a_wrong_password_or_a_wrong_drawing_is_refused_and_nothing_is_signed(cast, doc, amy):
    status, started = post_json(amy, url(doc, "sign/begin/"), {"method": "password"})
    body = {"ceremony": started["ceremony"], "password": "wrong"}
    status, answer = post_json(amy, url(doc, "sign/finish/"), body)
    assert status == 400 and answer["error"]
    drawn = "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode()
    status, answer = sign_with_password(amy, doc, drawn=drawn)
    assert status == 400 and answer["error"]
    doc.refresh_from_db()
    assert doc.state == DocumentState.PENDING and not Signature.objects.exists()


def test_signing_twice_is_refused_with_a_message(cast, doc, amy):
    assert sign_with_password(amy, doc)[0] == 200
    status, answer = post_json(amy, url(doc, "sign/begin/"), {"method": "password"})
    assert status == 400 and answer["error"]
    assert 'id="sign-panel"' not in amy.get(url(doc)).content.decode()


def test_the_email_code_is_sent_and_signs(
    cast, doc, amy, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        status, started = post_json(amy, url(doc, "sign/begin/"), {"method": "email_code"})
    assert status == 200, started
    code = next(word for word in mailoutbox[-1].body.split() if word.isdigit() and len(word) == 6)
    body = {"ceremony": started["ceremony"], "code": code}
    assert post_json(amy, url(doc, "sign/finish/"), body)[0] == 200
    assert Signature.objects.get(document=doc).method == Method.EMAIL_CODE


# -- passkeys -----------------------------------------------------------------------------


def register_passkey(client, name: str = "我的手机") -> SoftAuthenticator:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    status, started = post_json(client, "/app/passkeys/begin/", {})
    assert status == 200, started
    body = {"ceremony": started["ceremony"], "credential": authenticator.create(started["options"]),
            "name": name}  # fmt: skip
    status, answer = post_json(client, "/app/passkeys/finish/", body)
    assert (status, answer) == (200, {"redirect": "/app/passkeys/"}), answer
    return authenticator


def test_a_passkey_is_registered_listed_used_to_sign_and_removed(cast, doc, amy):
    authenticator = register_passkey(amy)
    assert "我的手机" in amy.get("/app/passkeys/").content.decode()
    assert 'id="sign-passkey"' in amy.get(url(doc)).content.decode()
    status, started = post_json(amy, url(doc, "sign/begin/"), {"method": "passkey"})
    assert status == 200, started
    body = {"ceremony": started["ceremony"], "assertion": authenticator.get(started["options"])}
    assert post_json(amy, url(doc, "sign/finish/"), body)[0] == 200
    assert Signature.objects.get(document=doc).method == Method.PASSKEY
    response = amy.post(f"/app/passkeys/{authenticator.credential_id_b64}/revoke/")
    assert response.status_code == 302
    assert Credential.objects.get(user=cast.amy.user).revoked_at is not None
    assert "我的手机" not in amy.get("/app/passkeys/").content.decode()


@pytest.mark.parametrize(
    "body",
    [
        {"ceremony": "00000000-0000-0000-0000-000000000007", "credential": {}, "name": "x"},
        {"ceremony": "x", "credential": {"id": "x"}, "name": "x"},
        {"ceremony": "00000000-0000-0000-0000-000000000007", "credential": "x", "name": "x"},
        {"ceremony": "00000000-0000-0000-0000-000000000007", "credential": {}, "name": ""},
    ],
)
def test_a_bad_passkey_registration_answers_400(body, cast, amy):
    status, answer = post_json(amy, "/app/passkeys/finish/", body)
    assert status == 400 and answer["error"]
    assert not Credential.objects.exists()


def test_a_passkey_answer_for_another_document_is_refused(cast, doc, amy):
    authenticator = register_passkey(amy)
    other = make_document(cast.amy, title="另一份")
    _status, started = post_json(amy, url(other, "sign/begin/"), {"method": "passkey"})
    body = {"ceremony": started["ceremony"], "assertion": authenticator.get(started["options"])}
    status, answer = post_json(amy, url(doc, "sign/finish/"), body)
    assert status == 400 and answer["error"]
    assert not Signature.objects.exists()


# -- disputes -----------------------------------------------------------------------------


def test_a_dispute_needs_a_reason_of_at_most_2000_characters(cast, doc, amy):
    for reason in ("", "   ", "长" * 2001):
        response = amy.post(url(doc, "dispute/"), {"reason": reason})
        assert response.status_code == 400
        assert 'id="dispute-error"' in response.content.decode()
    doc.refresh_from_db()
    assert doc.state == DocumentState.PENDING and not doc.disputes.exists()


def test_a_dispute_is_shown_with_hrs_answer(cast, doc, amy):
    from kaohe.signing.actions import do_answer_dispute

    response = amy.post(url(doc, "dispute/"), {"reason": "销售额数据漏计了两笔订单。"})
    assert response.status_code == 302 and response.url == url(doc)
    doc.refresh_from_db()
    assert doc.state == DocumentState.DISPUTED
    text = amy.get(url(doc)).content.decode()
    assert "销售额数据漏计了两笔订单。" in text and 'id="dispute-waiting"' in text
    assert 'id="dispute-form"' not in text  # one open dispute at a time
    do_answer_dispute(cast.hazel, doc.disputes.get(), "已核对：两笔订单属于下季度。", "rejected")
    text = amy.get(url(doc)).content.decode()
    assert "已核对：两笔订单属于下季度。" in text
    assert f'data-outcome="{DisputeOutcome.REJECTED}"' in text


def test_disputing_a_signed_document_is_refused_with_a_message(cast, doc, amy):
    assert sign_with_password(amy, doc)[0] == 200
    response = amy.post(url(doc, "dispute/"), {"reason": "签错了"})
    assert response.status_code == 400
    assert 'id="dispute-error"' in response.content.decode()
    assert not doc.disputes.exists()


def test_a_document_served_by_courier_can_still_be_signed_or_disputed(cast, doc, amy):
    import datetime as dt

    from kaohe.signing.actions import do_answer_dispute, do_dispute, do_record_delivery

    do_record_delivery(cast.hazel, doc, "courier", dt.date(2026, 4, 10), "EMS 1234", [])
    page = amy.get(url(doc)).content.decode()
    assert 'id="sign-panel"' in page and 'id="dispute-open"' in page
    # A dispute upheld: the document awaits its correction, neither signed nor disputed again.
    dispute = do_dispute(cast.amy.user, doc, "目标值有误")
    do_answer_dispute(cast.hazel, dispute, "同意更正", DisputeOutcome.UPHELD)
    page = amy.get(url(doc)).content.decode()
    assert 'id="dispute-open"' not in page
