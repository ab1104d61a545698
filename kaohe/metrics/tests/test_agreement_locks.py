"""Two people change the same agreement at once: the second waits for the first and then
sees what it did, so the version in force holds exactly what the ledger recorded.

The races run on PostgreSQL, in two threads with a connection each and committed data.
SQLite needs no row lock: every transaction there is IMMEDIATE and takes the database's
write lock at its start (kaohe/settings.py).
"""

import datetime as dt
import hashlib
import json
import threading

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kaohe.ledger.models import Entry
from kaohe.lib.canonical import canonical
from kaohe.lib.periods import Period
from kaohe.metrics.actions import (
    ActionError,
    ItemSpec,
    do_bulk_assign,
    do_discard_draft,
    do_draft_agreement,
    do_publish_agreement,
    do_revise_agreement,
    do_set_items,
    do_upsert_item,
)
from kaohe.metrics.checks import agreement_content
from kaohe.metrics.models import AgreementVersion
from kaohe.metrics.testing import make_sales_metrics

NOW = dt.datetime(2026, 2, 10, 2, 0, tzinfo=dt.UTC)
Q1 = Period.parse("2026-Q1")
ON_POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="row locks are PostgreSQL's")
WAIT = 1.0  # long enough for an unlocked action to finish; a locked one waits it out


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def m(cast):
    return make_sales_metrics()


def items(m, amount: str) -> list[ItemSpec]:
    return [ItemSpec(m["sales_amount"], amount, "60"), ItemSpec(m["deals_signed"], "30", "40")]


def draft(cast, m, amount="300000") -> AgreementVersion:
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    do_set_items(cast.hazel, version, items(m, amount))
    return version


class Held(threading.Thread):
    """Runs `action` in a transaction of its own and keeps that transaction (and its locks)
    open until `release` is set."""

    def __init__(self, action) -> None:
        super().__init__(daemon=True)
        self.action, self.error = action, None
        self.written, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.action()
                self.written.set()
                self.release.wait(10)
        except Exception as exc:  # the test reads it
            self.error = exc
        finally:
            self.written.set()
            connection.close()


class Running(threading.Thread):
    def __init__(self, action) -> None:
        super().__init__(daemon=True)
        self.action, self.error = action, None

    def run(self) -> None:
        try:
            self.action()
        except Exception as exc:  # the test reads it
            self.error = exc
        finally:
            connection.close()


def race(first, second) -> tuple[bool, Exception | None]:
    """`first` writes and holds its transaction open while `second` starts; returns whether
    `second` was still waiting when `first` committed, and what `second` raised."""
    held = Held(first)
    held.start()
    held.written.wait(10)
    assert held.error is None, held.error
    waiting = Running(second)
    waiting.start()
    waiting.join(WAIT)
    waited = waiting.is_alive()
    held.release.set()
    held.join(10)
    waiting.join(10)
    assert held.error is None, held.error
    return waited, waiting.error


def published_content(version: AgreementVersion) -> dict:
    [entry] = [json.loads(e.body) for e in Entry.objects.filter(kind="metrics.agreement.published")]
    return entry["payload"]


def assert_in_force_is_what_was_recorded(version: AgreementVersion, amount: str) -> None:
    version.refresh_from_db()
    payload = published_content(version)
    content = agreement_content(version)
    assert payload["content"] == content
    assert payload["content_sha256"] == version.content_sha256
    assert hashlib.sha256(canonical(content)).hexdigest() == version.content_sha256
    targets = {item["metric"]: item["target"] for item in content["items"]}
    assert targets["sales_amount"] == amount


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_publishing_waits_for_an_edit_in_progress_and_fixes_what_it_saved(cast, m):
    version = draft(cast, m)
    waited, error = race(
        lambda: do_set_items(cast.mike.user, version, items(m, "500000")),
        lambda: do_publish_agreement(cast.hazel, AgreementVersion.objects.get(pk=version.pk)),
    )
    assert error is None, error
    assert_in_force_is_what_was_recorded(version, "500000")
    assert waited


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_edit_during_publishing_waits_and_is_refused(cast, m):
    version = draft(cast, m)
    waited, error = race(
        lambda: do_publish_agreement(cast.hazel, version),
        lambda: do_set_items(
            cast.mike.user, AgreementVersion.objects.get(pk=version.pk), items(m, "500000")
        ),
    )
    assert_in_force_is_what_was_recorded(version, "300000")
    assert isinstance(error, ActionError)
    assert waited


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_discard_during_publishing_waits_and_is_refused(cast, m):
    version = draft(cast, m)
    waited, error = race(
        lambda: do_publish_agreement(cast.hazel, version),
        lambda: do_discard_draft(cast.mike.user, AgreementVersion.objects.get(pk=version.pk)),
    )
    assert_in_force_is_what_was_recorded(version, "300000")
    assert isinstance(error, ActionError)
    assert waited


# --- every action that changes a draft locks the agreement first -------------------------------


def writes_to_versions(sql: str) -> bool:
    return sql.startswith(("INSERT", "UPDATE", "DELETE")) and (
        "metrics_agreementversion" in sql or "metrics_agreementitem" in sql
    )


def assert_locks_before_writing(run) -> None:
    with CaptureQueriesContext(connection) as captured:
        run()
    sql = [query["sql"] for query in captured.captured_queries]
    locks = [n for n, text in enumerate(sql) if "FOR UPDATE" in text
             and 'FROM "metrics_targetagreement"' in text]  # fmt: skip
    writes = [n for n, text in enumerate(sql) if writes_to_versions(text)]
    assert locks, "the agreement was not locked"
    assert not writes or locks[0] < writes[0], "a version changed before the agreement was locked"


@postgres_only
@pytest.mark.django_db
def test_each_action_on_a_draft_locks_its_agreement_before_it_writes(cast, m):
    version: AgreementVersion | None = None

    def open_draft():
        nonlocal version
        version = do_draft_agreement(cast.hazel, cast.amy, Q1)

    assert_locks_before_writing(open_draft)
    assert version is not None
    assert_locks_before_writing(lambda: do_set_items(cast.hazel, version, items(m, "300000")))
    spec = ItemSpec(m["deals_signed"], "35", "40")
    assert_locks_before_writing(lambda: do_upsert_item(cast.hazel, version, spec, keep_weight=True))
    assert_locks_before_writing(lambda: do_publish_agreement(cast.hazel, version))
    revision = []
    agreement = version.agreement
    assert_locks_before_writing(
        lambda: revision.append(do_revise_agreement(cast.hazel, agreement, "调整"))
    )
    assert_locks_before_writing(lambda: do_discard_draft(cast.hazel, revision[0]))
    assert_locks_before_writing(
        lambda: do_bulk_assign(cast.hazel, [cast.amy], Q1, items(m, "1"), publish=True, note="统一")
    )


@pytest.mark.django_db
def test_publishing_fixes_the_items_saved_not_those_the_caller_read(cast, m):
    version = draft(cast, m)
    stale = AgreementVersion.objects.prefetch_related("items").get(pk=version.pk)
    assert [i.target for i in stale.items.all() if i.metric_id == m["sales_amount"].pk] == [300000]
    do_set_items(cast.mike.user, version, items(m, "500000"))
    do_publish_agreement(cast.hazel, stale)
    assert_in_force_is_what_was_recorded(version, "500000")


def test_sqlite_serialises_writers_from_the_start_of_each_transaction():
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
