import datetime as dt

import pytest
import time_machine

from kaohe.ledger.models import Entry
from kaohe.ledger.testing import takes_the_log
from kaohe.lib import clock
from kaohe.org.testing import PASSWORD
from kaohe.signing.actions import do_begin_signing, do_sign
from kaohe.signing.models import Letter, Method, Signature
from kaohe.signing.tasks import finish_pending_signatures, finish_signature
from kaohe.signing.testing import make_document, use_fake_renderer


@pytest.fixture(autouse=True)
def _fake_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def _broken_seal(*args, **kwargs):
    raise OSError("the TSA did not answer")


def sign(cast) -> Signature:
    user, document = cast.amy.user, make_document(cast.amy)
    ceremony, _options = do_begin_signing(user, document, Method.PASSWORD)
    return do_sign(user, document, ceremony.public_id, password=PASSWORD)


def test_a_failed_letter_keeps_the_receipt_and_the_sweep_finishes_it(cast, monkeypatch):
    signature = sign(cast)
    monkeypatch.setattr("kaohe.signing.letter.make_letter", _broken_seal)
    with pytest.raises(OSError):
        finish_signature.call(signature.pk)
    signature.refresh_from_db()
    assert signature.receipt["proof"]["leaf_index"] == signature.entry_index
    assert not Letter.objects.filter(document=signature.document).exists()
    receipt = signature.receipt
    monkeypatch.undo()
    use_fake_renderer(monkeypatch)
    assert finish_pending_signatures.call() == 0  # too fresh: its own task may still run
    with time_machine.travel(clock.now() + dt.timedelta(minutes=3), tick=False):
        assert finish_pending_signatures.call() == 1
    signature.refresh_from_db()
    assert signature.receipt == receipt  # the receipt already sent stays the one kept
    assert Letter.objects.filter(document=signature.document).exists()
    with time_machine.travel(clock.now() + dt.timedelta(minutes=3), tick=False):
        assert finish_pending_signatures.call() == 0
    assert finish_signature.call(signature.pk) is False


def test_the_sweep_runs_every_five_minutes():
    from kaohe.cli.schedule import JOBS

    job = next(job for job in JOBS if job.name == "finish_signatures")
    assert job.every == dt.timedelta(minutes=5)


def test_the_letter_row_is_written_before_its_ledger_entry(cast):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    signature = sign(cast)
    with CaptureQueriesContext(connection) as queries:
        assert finish_signature.call(signature.pk) is True
    sql = [q["sql"] for q in queries.captured_queries]
    claims = [i for i, q in enumerate(sql) if takes_the_log(q)]
    letter = next(i for i, q in enumerate(sql) if 'INSERT INTO "signing_letter"' in q)
    assert claims and letter < claims[-1]
    entry = Letter.objects.get(document=signature.document).entry_index
    assert Entry.objects.get(index=entry).kind == "letter.sealed"
