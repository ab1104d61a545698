import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.org.actions import do_create_api_key
from kaohe.org.testing import PASSWORD
from kaohe.signing.actions import do_begin_signing, do_sign
from kaohe.signing.models import Method
from kaohe.signing.testing import make_document, use_fake_renderer


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def bearer(cast, scopes=("documents:read",)):
    _key, secret = do_create_api_key(cast.ada, f"docs {len(scopes)}{scopes[0]}", list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def sign(cast, document):
    ceremony, _options = do_begin_signing(cast.amy.user, document, Method.PASSWORD)
    return do_sign(cast.amy.user, document, ceremony.public_id, password=PASSWORD)


def test_hr_lists_documents_a_page_at_a_time(cast, client_for):
    for _ in range(3):
        make_document(cast.amy)
    client = client_for(cast.hazel)
    first = client.get("/api/v1/documents?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get(f"/api/v1/documents?limit=2&cursor={first['next_cursor']}").json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    ids = {d["id"] for d in first["items"] + second["items"]}
    assert len(ids) == 3


def test_filters(cast, client_for):
    document = make_document(cast.amy)
    make_document(cast.olga)
    client = client_for(cast.ada)
    rows = client.get("/api/v1/documents?employee=E0003&kind=result&state=pending").json()
    assert [d["id"] for d in rows["items"]] == [str(document.public_id)]
    assert client.get("/api/v1/documents?state=bogus").status_code == 422
    assert client.get("/api/v1/documents?cursor=x").status_code == 422


def test_outsiders_see_nothing_of_amys_documents(cast, client_for):
    document = make_document(cast.amy)
    for user in (cast.olga.user, cast.harry):
        client = client_for(user)
        assert client.get("/api/v1/documents").json()["items"] == []
        for suffix in ("", "/pdf", "/receipt"):
            assert client.get(f"/api/v1/documents/{document.public_id}{suffix}").status_code == 404


def test_she_reads_her_document_its_pdf_and_receipt(
    cast, client_for, django_capture_on_commit_callbacks
):
    document = make_document(cast.amy)
    client = client_for(cast.amy.user)
    detail = client.get(f"/api/v1/documents/{document.public_id}").json()
    assert detail["doc_sha256"] == document.doc_sha256 and detail["data"]["kind"] == "result"
    pdf = client.get(f"/api/v1/documents/{document.public_id}/pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content == bytes(document.pdf)
    assert client.get(f"/api/v1/documents/{document.public_id}/receipt").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        sign(cast, document)
    receipt = client.get(f"/api/v1/documents/{document.public_id}/receipt")
    assert receipt.status_code == 200 and receipt.json()["format"]
    detail = client.get(f"/api/v1/documents/{document.public_id}").json()
    assert detail["state"] == "signed" and detail["signature"]["method"] == "password"


def test_an_api_key_needs_the_scope(cast, client):
    make_document(cast.amy)
    response = client.get("/api/v1/documents", **bearer(cast))
    assert response.status_code == 200 and len(response.json()["items"]) == 1
    assert client.get("/api/v1/documents", **bearer(cast, ["alerts:read"])).status_code == 403
    assert client.get("/api/v1/documents").status_code == 401


def test_the_list_costs_the_same_queries_for_more_rows(cast, client_for):
    client = client_for(cast.ada)
    make_document(cast.amy)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/documents")
    for _ in range(4):
        make_document(cast.olga)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/documents").json()["items"]) == 5
    assert len(many) == len(few)


def test_the_ca_certificate_is_public(cast, client):
    response = client.get("/api/v1/signing/ca.pem")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response.content.startswith(b"-----BEGIN CERTIFICATE-----")
