import pytest

from kaohe.ledger.models import Entry
from kaohe.ledger.testing import takes_the_log
from kaohe.lib.canonical import canonical
from kaohe.notify.models import Notification
from kaohe.signing.actions import SigningError, issue_many
from kaohe.signing.content import doc_hash, sha256_hex
from kaohe.signing.models import Document, DocumentState
from kaohe.signing.testing import make_document, sample_data, use_fake_renderer
from kaohe.signing.visibility import documents_visible_to, may_manage


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def test_issue_fixes_content_and_hashes(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        document = make_document(cast.amy, actor=cast.hazel)
    assert document.data_json == canonical(document.data).decode()
    assert document.data_sha256 == sha256_hex(document.data_json.encode())
    assert document.pdf_sha256 == sha256_hex(bytes(document.pdf))
    assert document.doc_sha256 == doc_hash(document.data_sha256, document.pdf_sha256)
    entry = Entry.objects.get(index=document.issued_entry)
    assert entry.kind == "document.issued" and entry.employee_no == "E0003"
    assert document.doc_sha256 in entry.body
    document.refresh_from_db()
    assert document.delivered_at is not None
    assert Entry.objects.filter(kind="document.delivered").count() == 1
    note = Notification.objects.get(user=cast.amy.user)
    assert note.url == f"/app/documents/{document.public_id}/"


def test_a_new_document_supersedes_the_old(cast):
    old = make_document(cast.amy)
    new = make_document(cast.amy, actor=cast.hazel, supersedes=old)
    old.refresh_from_db()
    assert old.state == DocumentState.SUPERSEDED and new.supersedes == old
    with pytest.raises(SigningError):
        make_document(cast.amy, supersedes=old)


@pytest.mark.parametrize("who", ["olga", "harry", "amy", "audrey"])
def test_outsiders_and_the_employee_may_not_issue(cast, who):
    actor = getattr(cast, who)
    with pytest.raises(SigningError):
        make_document(cast.amy, actor=getattr(actor, "user", actor))


@pytest.mark.parametrize(
    "change",
    [
        {"format": "other"},
        {"sections": []},
        {"sections": [{"heading": "x", "fields": [["a", "b"]], "paragraphs": ["c"]}]},
        {"sections": [{"heading": "x", "table": {"columns": ["a"], "rows": [["1", "2"]]}}]},
        {"score": 1.5},
        {"statement": ""},
    ],
)
def test_malformed_data_is_refused_before_anything_is_written(cast, change):
    data = sample_data(cast.amy) | change
    with pytest.raises(SigningError):
        make_document(cast.amy, data=data)
    assert not Document.objects.exists() and not Entry.objects.exists()


def test_issue_many_issues_all_with_one_entry_each(cast, django_capture_on_commit_callbacks):
    specs = [
        {"kind": "result", "employee": e, "title": "T", "data": sample_data(e),
         "source_type": "tests", "source_id": str(i)}
        for i, e in enumerate([cast.amy, cast.mike, cast.olga])
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        documents = issue_many(cast.ada, specs)
    assert len(documents) == 3 and all(d.pk for d in documents)
    for document in documents:
        entry = Entry.objects.get(index=document.issued_entry)
        assert str(document.public_id) in entry.body and document.doc_sha256 in entry.body
    assert Document.objects.filter(delivered_at__isnull=False).count() == 3


def test_visibility(cast):
    document = make_document(cast.amy)
    assert documents_visible_to(cast.amy.user).get() == document
    assert documents_visible_to(cast.mike.user).get() == document
    assert documents_visible_to(cast.hazel).get() == document
    assert documents_visible_to(cast.audrey).get() == document
    assert not documents_visible_to(cast.olga.user).exists()
    assert not documents_visible_to(cast.harry).exists()
    assert may_manage(cast.hazel, document) and may_manage(cast.ada, document)
    assert not may_manage(cast.harry, document) and not may_manage(cast.audrey, document)
    assert not may_manage(cast.amy.user, document)


@pytest.mark.parametrize("many", [False, True])
def test_documents_and_their_pdfs_are_written_before_the_ledger_is_locked(cast, many):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    specs = [
        {"kind": "result", "employee": person, "title": "考核结果",
         "data": sample_data(person, "result", "考核结果"), "source_type": "tests",
         "source_id": person.employee_no}
        for person in (cast.amy, cast.mike)
    ]  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        documents = issue_many(None, specs) if many else [make_document(cast.amy)]
    sql = [q["sql"] for q in queries.captured_queries]
    claim = next(i for i, q in enumerate(sql) if takes_the_log(q))
    assert 'INSERT INTO "signing_document"' in "".join(sql[:claim])
    assert 'INSERT INTO "signing_document"' not in "".join(sql[claim:])
    for document in documents:
        document.refresh_from_db()
        entry = Entry.objects.get(index=document.issued_entry)
        assert entry.kind == "document.issued" and str(document.public_id) in entry.subject
