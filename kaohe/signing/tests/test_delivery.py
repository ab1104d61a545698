import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kaohe.ledger.models import Entry
from kaohe.ledger.testing import takes_the_log
from kaohe.lib import clock
from kaohe.signing.actions import (
    SigningError,
    do_record_delivery,
    do_withdraw,
    sanitise_name,
)
from kaohe.signing.models import Attachment, DocumentState
from kaohe.signing.testing import make_document, use_fake_renderer


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def upload(name="ems.pdf", content=b"%PDF-1.4 receipt"):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def test_hr_records_a_courier_delivery_with_attachments(cast):
    document = make_document(cast.amy)
    today = clock.today()
    delivery = do_record_delivery(cast.hazel, document, "courier", today, "EMS 1234567890",
                                  [upload(), upload("../../etc/签收单.jpg", b"jpeg")])  # fmt: skip
    document.refresh_from_db()
    assert document.state == DocumentState.SERVED and document.closed_at
    names = sorted(Attachment.objects.filter(delivery=delivery).values_list("name", flat=True))
    assert names == ["ems.pdf", "签收单.jpg"]
    entry = Entry.objects.get(index=delivery.entry_index)
    assert entry.kind == "document.served"
    assert Attachment.objects.get(name="ems.pdf").sha256 in entry.body


def test_an_attachment_over_10_mb_is_refused_and_nothing_is_written(cast):
    document = make_document(cast.amy)
    big = upload("big.pdf", b"x" * (10 * 1024 * 1024 + 1))
    with pytest.raises(SigningError):
        do_record_delivery(cast.hazel, document, "email", clock.today(), "sent", [big])
    assert not Entry.objects.filter(kind="document.served").exists()


@pytest.mark.parametrize(
    "change",
    [
        {"method": "pigeon"},
        {"note": ""},
        {"delivered_on": clock.today() + dt.timedelta(days=2)},
        {"delivered_on": "2026-01-01"},
    ],
)
def test_bad_delivery_input_is_refused(cast, change):
    document = make_document(cast.amy)
    args = {"method": "witness", "delivered_on": clock.today(), "note": "王五、赵六在场"} | change
    with pytest.raises(SigningError):
        do_record_delivery(cast.hazel, document, files=[], **args)


@pytest.mark.parametrize("who", ["harry", "olga", "audrey", "amy", "mike"])
def test_only_her_hr_records_deliveries_and_withdraws(cast, who):
    document = make_document(cast.amy)
    person = getattr(cast, who)
    user = getattr(person, "user", person)
    with pytest.raises(SigningError):
        do_record_delivery(user, document, "email", clock.today(), "sent", [])
    with pytest.raises(SigningError):
        do_withdraw(user, document, "because")


def test_withdraw_needs_a_reason_and_an_open_document(cast):
    document = make_document(cast.amy)
    with pytest.raises(SigningError):
        do_withdraw(cast.hazel, document, "")
    do_withdraw(cast.hazel, document, "wrong period")
    assert document.state == DocumentState.WITHDRAWN
    assert Entry.objects.filter(kind="document.withdrawn").count() == 1
    with pytest.raises(SigningError):
        do_withdraw(cast.hazel, document, "again")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a/b/c.pdf", "c.pdf"),
        ("C:\\x\\y.png", "y.png"),
        ("<script>.pdf", "script.pdf"),
        ("..", "attachment"),
        ("a\x00b.txt", "ab.txt"),
        ("x" * 300 + ".pdf", "x" * 190 + ".pdf"),
    ],
)
def test_file_names_are_sanitised(given, expected):
    assert sanitise_name(given) == expected


class Unreadable:
    """An upload that must not be read: the checks come first."""

    content_type = "application/pdf"

    def __init__(self, name="scan.pdf", size=10):
        self.name, self.size = name, size

    def read(self, *args):
        raise AssertionError("read before the count and size were checked")


def test_too_many_attachments_are_refused_before_reading_any(cast):
    document = make_document(cast.amy)
    with pytest.raises(SigningError, match="20"):
        do_record_delivery(cast.hazel, document, "email", clock.today(), "sent",
                           [Unreadable() for _ in range(21)])  # fmt: skip
    assert not Entry.objects.filter(kind="document.served").exists()


def test_attachments_over_50_mb_together_are_refused_before_reading_any(cast):
    document = make_document(cast.amy)
    files = [Unreadable(size=9 * 1024 * 1024) for _ in range(6)]
    with pytest.raises(SigningError, match="50"):
        do_record_delivery(cast.hazel, document, "email", clock.today(), "sent", files)
    assert not Entry.objects.filter(kind="document.served").exists()


def test_attachments_without_a_size_stop_being_read_past_50_mb(cast):
    document = make_document(cast.amy)
    chunk = b"x" * (9 * 1024 * 1024)
    files = [upload(f"{i}.pdf", chunk) for i in range(7)]
    for f in files:
        del f.size
    with pytest.raises(SigningError, match="50"):
        do_record_delivery(cast.hazel, document, "email", clock.today(), "sent", files)


def test_the_ledger_entry_of_a_delivery_is_its_last_write(cast):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    document = make_document(cast.amy)
    with CaptureQueriesContext(connection) as queries:
        delivery = do_record_delivery(cast.hazel, document, "email", clock.today(), "sent",
                                      [upload()])  # fmt: skip
    sql = [q["sql"] for q in queries.captured_queries]
    claim = next(i for i, q in enumerate(sql) if takes_the_log(q))
    before = "".join(sql[:claim])
    assert 'INSERT INTO "signing_alternativedelivery"' in before
    assert 'INSERT INTO "signing_attachment"' in before
    assert 'UPDATE "signing_document"' in before
    assert Entry.objects.get(index=delivery.entry_index).kind == "document.served"
