import datetime as dt
import hashlib
import io
import math

import openpyxl
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from kaohe.integrations.fact_files import import_facts
from kaohe.integrations.models import Delivery
from kaohe.integrations.tests.factories import actuals, make_source
from kaohe.ledger.models import Entry
from kaohe.metrics.models import Actual, Fact
from kaohe.metrics.testing import make_sales_metrics

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
HEADER = "external_id,employee,metric,value,occurred_at\n"
ZH_HEADER = "外部编号,员工编号,指标,数值,发生时间,作废,属性.渠道\n"


@pytest.fixture(autouse=True)
def english_and_frozen():
    with translation.override("en"), time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def crm(cast):
    make_sales_metrics()
    return make_source("crm")


def csv_file(*lines: str, header=HEADER, encoding="utf-8") -> io.BytesIO:
    return io.BytesIO((header + "".join(line + "\n" for line in lines)).encode(encoding))


def xlsx_file(*rows, header=("外部编号", "员工编号", "指标", "数值", "发生时间")) -> io.BytesIO:
    book = openpyxl.Workbook()
    book.active.append(list(header))
    for row in rows:
        book.active.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer


def cell(employee="E0003", month=dt.date(2026, 1, 1)):
    return Actual.objects.filter(employee__employee_no=employee, month=month).values_list(
        "total_e4", "count"
    )[0]


def problems(result) -> list[tuple]:
    return [(error.row, error.column, error.message) for error in result.errors]


# --- encodings and formats ------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_a_csv_file_is_read_in_any_encoding_chinese_office_tools_write(crm, encoding):
    file = csv_file(
        "D-1,E0003,sales_amount,125000.00,2026-01-15 10:00,,线上",
        'D-2,E0003,sales_amount,"1,000.50",2026-01-20,否,',
        header=ZH_HEADER,
        encoding=encoding,
    )

    result = import_facts("crm", file)

    assert problems(result) == []
    assert (result.created, result.rows) == (2, 2)
    assert cell() == (1_260_005_000, 2)
    assert Fact.objects.get(external_id="D-1").attributes == {"渠道": "线上"}


def test_an_xlsx_file_with_real_dates_and_numbers_is_read(crm):
    file = xlsx_file(
        (1001, "E0003", "sales_amount", 125000.5, dt.datetime(2026, 1, 31, 23, 30)),
        ("D-2", "E0002", "sales_amount", 20, dt.date(2026, 2, 1)),
    )

    result = import_facts("crm", file)

    assert problems(result) == [] and result.created == 2
    first = Fact.objects.get(external_id="1001")
    # A time without offset is the company's (Shanghai): still January there.
    assert first.occurred_at == dt.datetime(2026, 1, 31, 15, 30, tzinfo=dt.UTC)
    assert first.month == dt.date(2026, 1, 1)
    assert Fact.objects.get(external_id="D-2").occurred_at == dt.datetime(
        2026, 1, 31, 16, 0, tzinfo=dt.UTC
    )


def test_xlsx_numbers_are_read_as_the_spreadsheet_shows_them(crm):
    # What a formula such as =1750*2.5 leaves in the cell: binary noise past 15 digits.
    file = xlsx_file(
        ("D-1", "E0003", "sales_amount", 4375.000000000001, dt.date(2026, 1, 5)),
        ("D-2", "E0003", "sales_amount", 0.1 + 0.2, dt.date(2026, 1, 6)),
        ("D-3", "E0003", "sales_amount", 0.00001, dt.date(2026, 1, 7)),
    )

    result = import_facts("crm", file)

    assert problems(result) == [(4, "数值", "Use at most 4 decimal places.")]
    assert cell() == (43_753_000, 2)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-01-15T10:00:00+08:00", dt.datetime(2026, 1, 15, 2, 0)),
        ("2026-01-15T10:00:00Z", dt.datetime(2026, 1, 15, 10, 0)),
        ("2026/1/15 10:00", dt.datetime(2026, 1, 15, 2, 0)),
        ("2026年1月15日", dt.datetime(2026, 1, 14, 16, 0)),
        ("2026-01-15", dt.datetime(2026, 1, 14, 16, 0)),
    ],
)
def test_times_are_read_with_their_offset_or_in_the_company_timezone(crm, text, utc):
    result = import_facts("crm", csv_file(f"D-1,E0003,sales_amount,1,{text}"))
    assert problems(result) == []
    assert Fact.objects.get().occurred_at == utc.replace(tzinfo=dt.UTC)


# --- rejected rows --------------------------------------------------------------------


def test_every_bad_row_is_reported_by_row_and_column_and_the_good_rows_apply(crm):
    file = csv_file(
        "D-1,E0003,sales_amount,100,2026-01-15",
        "D-2,E9999,sales_amount,100,2026-01-15",
        "D-3,E0003,no_such_metric,100,2026-01-15",
        "D-4,E0003,days_present,1,2026-01-15",
        "D-5,E0003,sales_amount,lots,2026-01-15",
        "D-6,E0003,sales_amount,100,last tuesday",
        "D-7,E0003,sales_amount,100,2026-03-12",
        "D-1,E0003,sales_amount,999,2026-01-15",
        ",E0003,sales_amount,100,2026-01-15",
        "D-8,E0003,sales_amount,,2026-01-15",
        "D-9,E0003,sales_amount,50,2026-01-16",
        header="外部编号,工号,指标,数值,发生时间\n",
    )

    result = import_facts("crm", file)

    assert result.created == 2 and result.rejected == 9
    assert [(row, column) for row, column, _message in problems(result)] == [
        (3, "工号"),
        (4, "指标"),
        (5, "指标"),
        (6, "数值"),
        (7, "发生时间"),
        (8, "发生时间"),
        (9, "外部编号"),
        (10, "外部编号"),
        (11, "数值"),
    ]
    messages = dict(((row, column), message) for row, column, message in problems(result))
    assert messages[(9, "外部编号")] == "External id D-1 also appears in row 2."
    assert messages[(3, "工号")] == "There is no such employee."
    assert "last tuesday is not a time" in messages[(7, "发生时间")]
    assert cell() == (1_500_000, 2)


def test_a_repeated_external_id_is_caught_across_chunks(crm):
    file = csv_file(*(f"D-{i},E0003,sales_amount,1,2026-01-15" for i in range(5)),
                    "D-0,E0003,sales_amount,2,2026-01-15")  # fmt: skip

    result = import_facts("crm", file, chunk_size=2)

    assert problems(result)[0][:2] == (7, "external_id")
    assert result.created == 5 and cell() == (50_000, 5)


def test_a_missing_column_refuses_the_file_and_applies_nothing(crm):
    result = import_facts("crm", csv_file("D-1,E0003,100", header="external_id,employee,value\n"))

    assert result.file_error and result.created == 0
    assert [column for _row, column, _message in problems(result)] == ["metric", "occurred_at"]
    assert not Fact.objects.exists()


def test_an_unknown_or_inactive_source_refuses_the_file(crm):
    crm.active = False
    crm.save()
    for source in ("erp", "crm"):
        result = import_facts(source, csv_file("D-1,E0003,sales_amount,1,2026-01-15"))
        assert result.file_error and "no active source" in result.errors[0].message
    assert not Fact.objects.exists()


def test_a_file_that_is_not_a_table_is_refused(crm):
    result = import_facts("crm", io.BytesIO(b"PK\x03\x04 not really a workbook"))
    assert result.file_error and result.errors[0].row is None


# --- voids, attributes, re-runs -------------------------------------------------------


def test_a_void_column_withdraws_records_and_needs_only_their_ids(crm):
    import_facts("crm", csv_file("D-1,E0003,sales_amount,100,2026-01-15",
                                 "D-2,E0003,sales_amount,50,2026-01-15"))  # fmt: skip

    result = import_facts("crm", csv_file("D-1,是", "D-2,否", "D-3,maybe", "D-9,yes",
                                          header="external_id,作废\n"))  # fmt: skip

    assert (result.voided, result.rejected) == (1, 3)
    assert problems(result) == [
        (3, "employee", "This field is required."),  # not a void: a record needs its data
        (4, "作废", "maybe is not yes or no (是/否)."),
        (5, "external_id", "No record with this external_id was received from this source."),
    ]
    assert cell() == (500_000, 1)


def test_running_the_same_file_again_changes_nothing(crm):
    lines = [f"D-{i},E000{1 + i % 4},sales_amount,{i}.5,2026-01-{1 + i % 28:02d}"
             for i in range(40)]  # fmt: skip
    import_facts("crm", csv_file(*lines), chunk_size=7)
    before = actuals()

    again = import_facts("crm", csv_file(*lines), chunk_size=7)

    assert again.counts() == {"created": 0, "updated": 0, "unchanged": 40, "voided": 0,
                              "rejected": 0}  # fmt: skip
    assert actuals() == before


def test_each_chunk_is_its_own_transaction_and_ledger_entry(crm):
    lines = [f"D-{i},E0003,sales_amount,1,2026-01-15" for i in range(10)]

    import_facts("crm", csv_file(*lines), chunk_size=4)

    kinds = list(Entry.objects.filter(kind__startswith="metrics.facts").values_list("kind"))
    assert kinds == [("metrics.facts.ingested",)] * 3 + [("metrics.facts.file_imported",)]


def test_the_file_is_logged_as_one_delivery_with_its_digest(crm):
    file = csv_file("D-1,E0003,sales_amount,1,2026-01-15", "D-2,E9999,sales_amount,1,2026-01-15")
    digest = hashlib.sha256(file.getvalue()).hexdigest()

    import_facts("crm", file)

    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.outcome, delivery.created, delivery.rejected) == (
        "file", "partly", 1, 1,
    )  # fmt: skip
    assert (delivery.body_sha256, delivery.body_bytes) == (digest, len(file.getvalue()))
    assert delivery.rejections[0]["index"] == 3  # the row, as the spreadsheet shows it
    entry = Entry.objects.get(kind="metrics.facts.file_imported")
    assert digest in entry.body


def test_the_number_of_queries_grows_with_chunks_not_rows(crm):
    def queries(rows: int, prefix: str) -> int:
        lines = [f"{prefix}-{i},E0003,sales_amount,1,2026-01-15" for i in range(rows)]
        with CaptureQueriesContext(connection) as captured:
            assert import_facts("crm", csv_file(*lines)).created == rows
        return len(captured)

    fields = [f for f in Fact._meta.concrete_fields if not f.primary_key]
    per_insert = min(connection.ops.bulk_batch_size(fields, [None] * 1000), 1000)
    small, large = queries(3, "small"), queries(300, "large")
    assert large - small <= math.ceil(300 / per_insert) - 1
