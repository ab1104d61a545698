import datetime as dt
import gzip
import hashlib
import json
from decimal import Decimal

import pytest
import time_machine
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext

from kaohe.ledger.models import Entry
from kaohe.metrics.ingest import MAX_ITEMS, IngestError, ingest_facts
from kaohe.metrics.models import Actual, Fact, FactBatch
from kaohe.metrics.testing import make_sales_metrics
from kaohe.org.actions import do_move_employee
from kaohe.org.models import Employee

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def metrics(cast):
    return make_sales_metrics()


def deal(external_id="D-1", value="125000.00", employee="E0003", at="2026-01-15T10:00:00+08:00",
         **extra):  # fmt: skip
    return {"external_id": external_id, "employee": employee, "metric": "sales_amount",
            "value": value, "occurred_at": at, **extra}  # fmt: skip


def totals(metric="sales_amount") -> dict:
    rows = Actual.objects.filter(metric__code=metric).values_list(
        "employee__employee_no", "month", "org_unit__code", "total_e4", "count"
    )
    return {(no, month.isoformat(), unit): (total, count) for no, month, unit, total, count in rows}


def test_it_creates_facts_and_keeps_the_monthly_actual(metrics):
    result = ingest_facts("crm", [deal("D-1"), deal("D-2", "5000.50")], None)

    assert result.counts() == {"created": 2, "updated": 0, "unchanged": 0, "voided": 0,
                               "rejected": 0}  # fmt: skip
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (1_300_005_000, 2)}
    assert Fact.objects.get(external_id="D-2").value == Decimal("5000.5")


def test_sending_the_same_batch_again_changes_nothing(metrics, cast):
    batch = [deal(f"D-{i}", f"{i}.25") for i in range(50)]
    ingest_facts("crm", batch, None)
    before = list(Actual.objects.values())
    entries = Entry.objects.count()

    again = ingest_facts("crm", batch, None)

    assert again.counts()["unchanged"] == 50
    assert again.counts()["created"] == again.counts()["updated"] == 0
    assert list(Actual.objects.values()) == before
    assert Entry.objects.count() == entries  # nothing changed, nothing recorded


def test_a_changed_value_moves_the_actual_by_the_difference(metrics):
    ingest_facts("crm", [deal("D-1", "100.00"), deal("D-2", "50.00")], None)

    result = ingest_facts("crm", [deal("D-1", "80.00")], None)

    assert result.updated == 1
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (1_300_000, 2)}


def test_a_fact_moved_to_another_month_leaves_the_old_month(metrics):
    ingest_facts("crm", [deal("D-1", "100")], None)

    ingest_facts("crm", [deal("D-1", "100", at="2026-02-03T09:00:00+08:00")], None)

    assert totals() == {
        ("E0003", "2026-01-01", "EAST-S"): (0, 0),
        ("E0003", "2026-02-01", "EAST-S"): (1_000_000, 1),
    }


def test_void_withdraws_the_fact_once_and_void_false_revives_it(metrics):
    ingest_facts("crm", [deal("D-1", "100"), deal("D-2", "7")], None)

    first = ingest_facts("crm", [{"external_id": "D-1", "void": True}], None)
    second = ingest_facts("crm", [{"external_id": "D-1", "void": True}], None)

    assert (first.voided, second.voided, second.unchanged) == (1, 0, 1)
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (70_000, 1)}
    assert Fact.objects.get(external_id="D-1").voided

    revived = ingest_facts("crm", [deal("D-1", "100", void=False)], None)
    assert revived.updated == 1
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (1_070_000, 2)}


def test_voiding_an_unknown_record_is_rejected(metrics):
    result = ingest_facts("crm", [{"external_id": "nope", "void": True}], None)

    assert [(r.index, r.field, r.code) for r in result.rejected] == [(0, "external_id", "unknown")]


BAD_ITEMS = [
    (deal(employee="E9999"), "employee", "unknown"),
    (deal() | {"metric": "no_such_metric"}, "metric", "unknown"),
    (deal() | {"metric": "attendance_rate"}, "metric", "ratio"),
    (deal() | {"metric": "days_present"}, "metric", "source_not_allowed"),
    (deal(value="12万"), "value", "not_a_number"),
    (deal(value=True), "value", "type"),
    (deal(value=float("nan")), "value", "not_a_number"),
    (deal(value="Infinity"), "value", "not_a_number"),
    (deal(value="1e11"), "value", "out_of_range"),
    (deal(value="1.00001"), "value", "too_precise"),
    (deal(value=None), "value", "missing"),
    (deal(at="2026-01-15 10:00"), "occurred_at", "no_offset"),
    (deal(at="15/01/2026"), "occurred_at", "bad_time"),
    (deal(at=1768442400), "occurred_at", "type"),
    (deal(at="2026-03-12T10:00:00+08:00"), "occurred_at", "in_future"),
    (deal(at="1999-12-31T10:00:00+08:00"), "occurred_at", "too_early"),
    (deal(at="0001-01-01T00:00:00+08:00"), "occurred_at", "too_early"),
    (deal(at="9999-12-31T23:59:59-08:00"), "occurred_at", "in_future"),
    (deal(external_id=""), "external_id", "missing"),
    (deal(external_id="D\x00"), "external_id", "control_character"),
    (deal(external_id="D" * 201), "external_id", "too_long"),
    (deal(ocurred_at="typo"), "ocurred_at", "unknown_field"),
    (deal(attributes=[1]), "attributes", "type"),
    (deal(attributes={"x": 1.5}), "attributes.x", "type"),
    (deal(void="yes"), "void", "type"),
    ("D-1", "", "type"),
]


@pytest.mark.parametrize(("item", "field", "code"), BAD_ITEMS)
def test_a_bad_item_is_rejected_with_its_reason_and_the_rest_applies(metrics, item, field, code):
    result = ingest_facts("crm", [deal("OK-1"), item, deal("OK-2")], None)

    assert [(r.index, r.field, r.code) for r in result.rejected] == [(1, field, code)]
    assert result.rejected[0].message
    assert result.created == 2
    assert set(Fact.objects.values_list("external_id", flat=True)) == {"OK-1", "OK-2"}


def test_rejection_messages_follow_the_language(metrics, settings):
    from django.utils import translation

    with translation.override("zh-hans"):
        zh = ingest_facts("crm", [deal(employee="E9999")], None).rejected[0].message
    with translation.override("en"):
        en = ingest_facts("crm", [deal(employee="E9999")], None).rejected[0].message

    assert en == "There is no such employee."
    assert zh != en


def test_every_copy_of_a_duplicated_external_id_is_rejected(metrics):
    result = ingest_facts("crm", [deal("D-1", "1"), deal("D-2"), deal("D-1", "2")], None)

    assert [(r.index, r.code) for r in result.rejected] == [(0, "duplicate"), (2, "duplicate")]
    assert "2" in result.rejected[0].message
    assert list(Fact.objects.values_list("external_id", flat=True)) == ["D-2"]


def test_a_batch_over_the_limit_is_refused_whole(metrics):
    with pytest.raises(IngestError):
        ingest_facts("crm", [deal(f"D-{i}") for i in range(MAX_ITEMS + 1)], None)
    assert not Fact.objects.exists()


def test_employees_outside_the_callers_reach_are_unknown(metrics, cast):
    reach = Employee.objects.filter(org_unit=cast.south)

    result = ingest_facts("crm", [deal(employee="E0003"), deal("D-2", employee="E0004")], None,
                          employees=reach)  # fmt: skip

    assert [(r.index, r.code) for r in result.rejected] == [(0, "unknown")]
    assert list(Fact.objects.values_list("employee__employee_no", flat=True)) == ["E0004"]


def test_months_are_counted_in_the_company_timezone(metrics):
    # 20:00 UTC on 31 January is 04:00 on 1 February in Shanghai.
    ingest_facts("crm", [deal(at="2026-01-31T20:00:00Z")], None)

    assert list(totals()) == [("E0003", "2026-02-01", "EAST-S")]


def test_a_transfer_mid_month_attributes_facts_by_their_time(metrics, cast):
    do_move_employee(cast.ada, cast.amy, cast.south, dt.date(2026, 1, 16))

    ingest_facts("crm", [deal("D-1", "10", at="2026-01-15T18:00:00+08:00"),
                         deal("D-2", "20", at="2026-01-16T09:00:00+08:00")], None)  # fmt: skip

    assert totals() == {
        ("E0003", "2026-01-01", "EAST-S"): (100_000, 1),
        ("E0003", "2026-01-01", "SOUTH"): (200_000, 1),
    }


def test_the_latest_value_follows_voids(metrics):
    score = {"employee": "E0003", "metric": "satisfaction"}
    ingest_facts("crm", [
        {"external_id": "S-1", "value": "4.5", "occurred_at": "2026-01-05T10:00:00+08:00", **score},
        {"external_id": "S-2", "value": "3.0", "occurred_at": "2026-01-20T10:00:00+08:00", **score},
    ], None)  # fmt: skip
    cell = Actual.objects.get(metric__code="satisfaction")
    assert cell.latest_value == Decimal("3")

    ingest_facts("crm", [{"external_id": "S-2", "void": True}], None)

    cell.refresh_from_db()
    assert (cell.latest_value, cell.count) == (Decimal("4.5"), 1)


def test_the_largest_values_survive_the_database_exactly(metrics):
    batch = [deal("D-1", "99999999999.9999"), deal("D-2", "-0.0001")]
    ingest_facts("crm", batch, None)

    again = ingest_facts("crm", batch, None)

    assert again.unchanged == 2
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (999_999_999_999_998, 2)}


def test_refunds_make_an_actual_negative(metrics):
    ingest_facts("crm", [deal("R-1", "-300.00")], None)

    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (-3_000_000, 1)}


def test_each_batch_that_changes_something_is_one_ledger_entry(metrics):
    ingest_facts("crm", [deal("D-1"), deal("D-2"), deal("D-3", employee="E9999")], None)

    entry = Entry.objects.get(kind="metrics.facts.ingested")
    assert '"created":2' in entry.body and '"rejected":1' in entry.body
    assert '"changes_sha256":"' in entry.body
    assert entry.subject == '{"source":"crm"}'


def test_queries_grow_only_by_multi_row_statements(metrics, cast):
    def queries(size: int, prefix: str) -> int:
        batch = [deal(f"{prefix}-{i}", at=f"2026-0{1 + i % 2}-1{i % 9}T10:00:00+08:00")
                 for i in range(size)]  # fmt: skip
        with CaptureQueriesContext(connection) as captured:
            ingest_facts("crm", batch, None)
        return len(captured)

    # Rows go in statements of many rows each (SQLite caps the parameters per statement).
    assert queries(400, "B") - queries(10, "A") <= 400 // 50


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite overflows into a float")
def test_a_batch_whose_actual_cannot_take_it_applies_nothing(metrics):
    # The upsert of the actuals runs while the change list is written (pipeline mode); its
    # error still comes as Django's and undoes the batch.
    ingest_facts("crm", [deal("D-1", "1")], None)
    Actual.objects.update(total_e4=2**63 - 1)

    with pytest.raises(DataError):
        ingest_facts("crm", [deal("D-2", "1")], None)

    assert list(Fact.objects.values_list("external_id", flat=True)) == ["D-1"]
    assert FactBatch.objects.count() == 1
    assert ingest_facts("crm", [deal("D-3", "1", at="2026-02-15T10:00:00+08:00")], None).created


def test_a_repeat_of_a_voided_record_leaves_the_void_in_place(metrics):
    ingest_facts("crm", [deal("D-9", "100")], None)
    ingest_facts("crm", [{"external_id": "D-9", "void": True}], None)

    again = ingest_facts("crm", [deal("D-9", "100")], None)

    assert (again.unchanged, again.updated) == (1, 0)
    assert Fact.objects.get(external_id="D-9").voided
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (0, 0)}


def test_an_explicit_void_false_or_a_changed_record_counts_again(metrics):
    ingest_facts("crm", [deal("D-9", "100"), deal("D-8", "5")], None)
    ingest_facts("crm", [{"external_id": e, "void": True} for e in ("D-9", "D-8")], None)

    result = ingest_facts("crm", [deal("D-9", "100", void=False), deal("D-8", "6")], None)

    assert result.updated == 2
    assert totals() == {("E0003", "2026-01-01", "EAST-S"): (1_060_000, 2)}


def test_a_caller_limited_to_some_employees_cannot_touch_records_about_others(metrics, cast):
    olga = [deal("W-1", "10", employee="E0004"), deal("W-2", "20", employee="E0004")]
    ingest_facts("crm", olga, None)
    east = Employee.objects.filter(org_unit__path__startswith=cast.east.path)

    result = ingest_facts(
        "crm",
        [{"external_id": "W-1", "void": True}, deal("W-2", "1"),
         {"external_id": "nope", "void": True}],
        None,
        employees=east,
    )  # fmt: skip

    assert [(r.index, r.code) for r in result.rejected] == [
        (0, "unknown"), (1, "out_of_reach"), (2, "unknown")
    ]  # fmt: skip
    assert result.rejected[0].message == result.rejected[2].message  # nothing to learn
    assert not Fact.objects.filter(voided=True).exists()
    assert set(Fact.objects.values_list("employee__employee_no", flat=True)) == {"E0004"}


@pytest.mark.parametrize(
    ("item", "field", "code"),
    [
        (deal(external_id="D-\ud800"), "external_id", "not_unicode"),
        (deal(attributes={"note": "a\x00b"}), "attributes.note", "control_character"),
        (deal(attributes={"note": "\udc00"}), "attributes.note", "not_unicode"),
        (deal(attributes={"k\ud800": "x"}), "attributes.k?", "not_unicode"),
        (deal(attributes={"n": 2**60}), "attributes.n", "out_of_range"),
        (deal() | {"\ud800x": 1}, "?x", "unknown_field"),
    ],
)
def test_text_that_is_not_unicode_is_rejected_and_the_answer_can_be_sent(metrics, item, field,
                                                                         code):  # fmt: skip
    result = ingest_facts("crm", [item, deal("OK-1")], None)

    assert [(r.index, r.field, r.code) for r in result.rejected] == [(0, field, code)]
    json.dumps([vars(r) for r in result.rejected], ensure_ascii=False).encode()  # no 500
    assert result.created == 1


def test_attribute_text_may_hold_line_breaks(metrics):
    result = ingest_facts("crm", [deal(attributes={"note": "第一行\n第二行\t!"})], None)

    assert result.created == 1


def test_each_batch_keeps_what_it_changed_and_the_ledger_entry_vouches_for_it(metrics):
    ingest_facts("crm", [deal("D-1", "100"), deal("D-2", "7")], None)

    ingest_facts("crm", [deal("D-1", "80"), {"external_id": "D-2", "void": True}], None)

    batch = FactBatch.objects.order_by("received_at", "id").last()
    changes = gzip.decompress(batch.changes)
    entry = Entry.objects.get(index=batch.entry_index)
    assert hashlib.sha256(changes).hexdigest() == batch.changes_sha256
    assert f'"changes_sha256":"{batch.changes_sha256}"' in entry.body
    updated, voided = json.loads(changes)
    assert updated[:5] == ["D-1", "updated", "E0003", "sales_amount", "80.0000"]
    assert updated[-1][:3] == ["E0003", "sales_amount", "100.0000"]  # what it said before
    assert voided[:2] == ["D-2", "voided"] and voided[-1][2] == "7.0000"


def test_a_stream_applies_chunk_after_chunk_as_separate_batches(metrics):
    from django.utils import translation

    from kaohe.metrics.ingest import ingest_stream

    chunks = [
        [deal("S-1"), deal("S-2", value="1.00")],
        [deal("S-1"), {"external_id": "S-3", "employee": "E0003"}],  # the first again; a fault
        [deal(f"S-{n}") for n in range(4, 4 + MAX_ITEMS + 1)],  # one too many
    ]
    results = []
    with translation.override("en"), pytest.raises(IngestError, match="at most"):
        for chunk, result in ingest_stream("crm", chunks, None):
            results.append((len(chunk), result.counts()))
            # Read in the helper thread, still in the caller's language.
            assert all("required" in r.message for r in result.rejected)
    assert results == [
        (2, {"created": 2, "updated": 0, "unchanged": 0, "voided": 0, "rejected": 0}),
        (2, {"created": 0, "updated": 0, "unchanged": 1, "voided": 0, "rejected": 1}),
    ]
    assert FactBatch.objects.count() == 1  # the second chunk changed nothing
    assert Fact.objects.count() == 2


def test_a_stream_tells_once_whose_actuals_its_chunks_changed(
    metrics, cast, django_capture_on_commit_callbacks
):
    from kaohe.metrics.ingest import ingest_stream
    from kaohe.metrics.signals import facts_changed

    told = []

    def listen(sender, employee_ids, **kwargs):
        told.append(employee_ids)

    chunks = [[deal("S-1", employee="E0003")], [deal("S-2", employee="E0004")],
              [deal()] * (MAX_ITEMS + 1)]  # fmt: skip
    facts_changed.connect(listen)
    try:
        with pytest.raises(IngestError), django_capture_on_commit_callbacks(execute=True):
            for _chunk, _result in ingest_stream("crm", chunks, None):
                assert not told  # not chunk by chunk
    finally:
        facts_changed.disconnect(listen)

    assert told == [sorted([cast.amy.pk, cast.olga.pk])]  # also when the stream fails


def test_a_long_stream_tells_every_few_chunks_so_a_killed_import_loses_little(
    metrics, cast, monkeypatch
):
    """A process killed mid-file never runs the stream's `finally`: the chunks committed
    before the last signal have been told already. (`_announce` sends the signal once the
    transaction commits, see the test above.)"""
    from kaohe.metrics import ingest

    monkeypatch.setattr(ingest, "ANNOUNCE_EVERY", 2)
    told = []
    monkeypatch.setattr(ingest, "_announce", lambda ids: told.append(sorted(ids)))
    people = ["E0003", "E0004", "E0003"]
    stream = ingest.ingest_stream(
        "crm", [[deal(f"L-{n}", employee=number)] for n, number in enumerate(people)], None
    )
    next(stream)
    assert told == []
    next(stream)
    assert told == [sorted([cast.amy.pk, cast.olga.pk])]  # after the second chunk
    list(stream)
    assert told == [sorted([cast.amy.pk, cast.olga.pk]), [cast.amy.pk]]
