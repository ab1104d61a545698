import csv
import datetime as dt
import io

import openpyxl
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kaohe.integrations.tests.factories import make_source
from kaohe.metrics.models import Fact
from kaohe.metrics.testing import make_sales_metrics

pytestmark = pytest.mark.django_db

URL = reverse("front:import_facts")
NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def crm(cast):
    make_sales_metrics()
    return make_source("crm")


def upload(*lines: str, encoding="utf-8") -> SimpleUploadedFile:
    text = "外部编号,员工编号,指标,数值,发生时间\n" + "".join(f"{line}\n" for line in lines)
    return SimpleUploadedFile("facts.csv", text.encode(encoding), content_type="text/csv")


def post(client, file, source="crm"):
    return client.post(URL, {"source": source, "file": file}, HTTP_ACCEPT_LANGUAGE="en")


# --- who may open it ------------------------------------------------------------------


def test_the_hr_admin_sees_the_form_with_the_active_sources(cast, crm, client_for):
    make_source("erp", active=False)
    response = client_for(cast.ada).get(URL)
    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content
    assert b'value="crm"' in response.content and b'value="erp"' not in response.content


@pytest.mark.parametrize("who", ["hazel", "harry", "olga", "mike", "audrey"])
def test_everyone_but_the_hr_admin_gets_403(cast, crm, client_for, who):
    user = getattr(cast, who)
    client = client_for(getattr(user, "user", user))
    assert client.get(URL).status_code == 403
    assert post(client, upload("D-1,E0003,sales_amount,1,2026-01-15")).status_code == 403
    assert client.get(URL + "?report=xlsx").status_code == 403
    assert not Fact.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("front:login"))


def test_without_a_source_the_page_says_so(cast, client_for):
    response = client_for(cast.ada).get(URL, HTTP_ACCEPT_LANGUAGE="en")
    assert b"No active source is set up yet" in response.content
    assert b'type="file"' not in response.content


# --- importing ------------------------------------------------------------------------


def test_a_good_file_is_imported_and_the_counts_shown(cast, crm, client_for):
    response = post(client_for(cast.ada), upload("D-1,E0003,sales_amount,1,2026-01-15",
                                                 "D-2,E0004,sales_amount,2,2026-01-15",
                                                 encoding="gbk"))  # fmt: skip

    assert response.status_code == 200
    assert response.context["result"].created == 2
    assert b'id="import-result"' in response.content and b"Import complete" in response.content
    assert b'id="import-problems"' not in response.content
    assert Fact.objects.count() == 2


def test_an_xlsx_upload_is_imported(cast, crm, client_for):
    book = openpyxl.Workbook()
    book.active.append(["external_id", "employee", "metric", "value", "occurred_at"])
    book.active.append(["D-1", "E0003", "sales_amount", 100, dt.datetime(2026, 1, 15, 9, 0)])
    buffer = io.BytesIO()
    book.save(buffer)
    file = SimpleUploadedFile("facts.xlsx", buffer.getvalue())

    response = post(client_for(cast.ada), file)

    assert response.context["result"].created == 1


def test_rejected_rows_are_listed_and_the_good_rows_applied(cast, crm, client_for):
    file = upload("D-1,E0003,sales_amount,1,2026-01-15", "D-2,E9999,sales_amount,1,2026-01-15",
                  "D-3,E0003,sales_amount,x,2026-01-15")  # fmt: skip
    response = post(client_for(cast.ada), file)

    assert b"2 rows were rejected; the other rows were applied." in response.content
    assert [(e.row, e.column) for e in response.context["errors"]] == [(3, "员工编号"),
                                                                      (4, "数值")]  # fmt: skip
    assert list(Fact.objects.values_list("external_id", flat=True)) == ["D-1"]


def test_the_problems_download_as_xlsx_or_csv(cast, crm, client_for):
    client = client_for(cast.ada)
    post(client, upload("D-1,E9999,sales_amount,1,2026-01-15"))

    xlsx = client.get(URL + "?report=xlsx", HTTP_ACCEPT_LANGUAGE="en")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)))
    csv_report = client.get(URL + "?report=csv", HTTP_ACCEPT_LANGUAGE="en")
    text = b"".join(csv_report.streaming_content).decode("utf-8-sig")

    assert [list(row) for row in book.active.iter_rows(values_only=True)] == [
        ["Row", "Column", "Problem"],
        [2, "员工编号", "There is no such employee."],
    ]
    assert list(csv.reader(io.StringIO(text)))[1] == ["2", "员工编号", "There is no such employee."]


def test_there_is_no_report_before_a_failed_import(cast, crm, client_for):
    client = client_for(cast.ada)
    assert client.get(URL + "?report=xlsx").status_code == 404
    post(client, upload("D-1,E0003,sales_amount,1,2026-01-15"))
    assert client.get(URL + "?report=xlsx").status_code == 404
    assert client.get(URL + "?report=pdf").status_code == 404


def test_a_file_without_the_needed_columns_is_refused_whole(cast, crm, client_for):
    file = SimpleUploadedFile("facts.csv", b"external_id,value\nD-1,1\n")
    response = post(client_for(cast.ada), file)
    assert b"The file was not imported." in response.content
    assert not Fact.objects.exists()


def test_a_file_over_the_size_limit_is_refused(cast, crm, client_for, settings):
    settings.KAOHE_MAX_IMPORT_BYTES = 10
    response = post(client_for(cast.ada), upload("D-1,E0003,sales_amount,1,2026-01-15"))
    assert response.context["form"].errors["file"]
    assert not Fact.objects.exists()


def test_the_queries_do_not_grow_with_the_rows(cast, crm, client_for):
    client = client_for(cast.ada)

    def queries(rows: int, prefix: str) -> int:
        lines = [f"{prefix}-{i},E0003,sales_amount,1,2026-01-15" for i in range(rows)]
        with CaptureQueriesContext(connection) as captured:
            post(client, upload(*lines))
        return len(captured)

    post(client, upload("warm-up,E0003,sales_amount,1,2026-01-15"))
    fields = [f for f in Fact._meta.concrete_fields if not f.primary_key]
    per_insert = min(connection.ops.bulk_batch_size(fields, [None] * 1000), 1000)
    assert queries(200, "large") - queries(2, "small") <= 200 // per_insert
