import datetime as dt
import io

import openpyxl
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kaohe.org.models import Employee
from kaohe.org.testing import make_employee

pytestmark = pytest.mark.django_db

IMPORT = reverse("front:import_people")
EXPORT = reverse("front:export_people")
TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _frozen_time():
    with time_machine.travel(TODAY, tick=False):
        yield


def upload(*lines: str, name="people.csv", encoding="utf-8") -> SimpleUploadedFile:
    text = "employee_no,name,org_unit,manager,hire_date\n" + "".join(f"{x}\n" for x in lines)
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def post(client, file, **fields):
    return client.post(IMPORT, {"file": file, **fields}, HTTP_ACCEPT_LANGUAGE="en")


def workbook(response) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))


# --- who may open it ------------------------------------------------------------------


def test_hr_sees_the_upload_form(cast, client_for):
    response = client_for(cast.hazel).get(IMPORT)
    assert response.status_code == 200
    assert (
        b'type="file"' in response.content and b'enctype="multipart/form-data"' in response.content
    )


@pytest.mark.parametrize("who", ["olga", "mike", "audrey"])
def test_people_without_an_hr_role_get_403(cast, client_for, who):
    user = getattr(cast, who)
    user = getattr(user, "user", user)
    assert client_for(user).get(IMPORT).status_code == 403
    assert post(client_for(user), upload("E1001,甲,SOUTH,,2024-01-02")).status_code == 403
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in (IMPORT, EXPORT):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("front:login"))


# --- importing ------------------------------------------------------------------------


def test_a_good_file_is_imported_and_the_counts_shown(cast, client_for):
    response = post(client_for(cast.hazel), upload("E1001,王芳,EAST-S,E0002,2024-01-02"))
    assert response.status_code == 200
    assert response.context["result"].created == 1
    assert b'id="import-result"' in response.content
    assert Employee.objects.get(employee_no="E1001").manager == cast.mike


def test_an_xlsx_upload_is_imported(cast, client_for):
    book = openpyxl.Workbook()
    book.active.append(["工号", "姓名", "组织编码", "入职日期"])
    book.active.append(["E1001", "王芳", "EAST-S", dt.datetime(2024, 1, 2)])
    data = io.BytesIO()
    book.save(data)
    file = SimpleUploadedFile("people.xlsx", data.getvalue())
    assert post(client_for(cast.ada), file).context["result"].created == 1


def test_row_errors_are_listed_with_row_column_and_reason(cast, client_for):
    file = upload(
        "E1001,甲,EAST-S,,2024-01-02", "E1002,乙,NOWHERE,,2024-01-02", "E1003,丙,EAST-S,,x"
    )
    response = post(client_for(cast.ada), file)
    page = response.content.decode()
    assert 'id="import-errors"' in page
    assert [(e.row, e.column) for e in response.context["errors"]] == [
        (3, "org_unit"),
        (4, "hire_date"),
    ]
    assert "<td>3</td><td>org_unit</td>" in page and "NOWHERE" in page
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_the_error_report_can_be_downloaded_as_xlsx(cast, client_for):
    client = client_for(cast.ada)
    post(client, upload("E1001,=cmd(),NOWHERE,,2024-01-02"))
    response = client.get(IMPORT, {"report": "errors"})
    assert response.status_code == 200
    rows = list(workbook(response).active.iter_rows(values_only=True))
    assert rows[1][:2] == (2, "org_unit")


def test_there_is_no_error_report_before_a_failed_import(cast, client_for):
    assert client_for(cast.ada).get(IMPORT, {"report": "errors"}).status_code == 404


def test_harry_cannot_import_rows_for_east_units(cast, client_for):
    response = post(client_for(cast.harry), upload("E1001,甲,EAST-S,,2024-01-02"))
    assert [(e.row, e.column) for e in response.context["errors"]] == [(2, "org_unit")]
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_a_file_over_the_size_limit_is_refused_with_a_message(cast, client_for, settings):
    settings.KAOHE_MAX_IMPORT_BYTES = 50
    response = post(client_for(cast.ada), upload("E1001,甲,EAST-S,,2024-01-02"))
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert response.context["result"] is None


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02\xff" * 50, b"PK\x03\x04 not really a zip", b"\xd0\xcf\x11\xe0\xa1\xb1"],
)
def test_an_unreadable_file_gets_a_clear_error_not_a_500(cast, client_for, content):
    file = SimpleUploadedFile("people.xlsx", content)
    response = post(client_for(cast.ada), file)
    assert response.status_code == 200
    form, result = response.context["form"], response.context["result"]
    assert form.errors or (result and result.errors)


def test_a_gbk_upload_is_decoded(cast, client_for):
    post(client_for(cast.ada), upload("E1001,欧阳晓燕,EAST-S,,2024-01-02", encoding="gbk"))
    assert Employee.objects.get(employee_no="E1001").name == "欧阳晓燕"


def test_the_effective_date_and_dry_run_are_passed_on(cast, client_for):
    client = client_for(cast.ada)
    file = upload("E0003,艾米,EAST-S,E0001,2020-03-01")
    result = post(client, file, effective="2026-05-01", dry_run="on").context["result"]
    assert (result.updated, result.dry_run) == (1, True)
    cast.amy.refresh_from_db()
    assert cast.amy.manager == cast.mike
    post(client, upload("E0003,艾米,EAST-S,E0001,2020-03-01"), effective="2026-05-01")
    assert cast.amy.placements.get(valid_to__isnull=True).valid_from == dt.date(2026, 5, 1)


# --- exporting ------------------------------------------------------------------------


def test_the_export_is_an_xlsx_named_after_today(cast, client_for):
    response = client_for(cast.ada).get(EXPORT)
    assert response.status_code == 200
    assert 'filename="kaohe-people-20260615.xlsx"' in response["Content-Disposition"]
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    numbers = {row[0] for row in workbook(response).active.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"E0001", "E0002", "E0003", "E0004"}


def test_harrys_export_contains_no_east_people(cast, client_for):
    response = client_for(cast.harry).get(EXPORT)
    numbers = {row[0] for row in workbook(response).active.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"E0004"}


def test_an_employee_exports_only_herself(cast, client_for):
    response = client_for(cast.amy.user).get(EXPORT)
    numbers = {row[0] for row in workbook(response).active.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"E0003"}


def test_the_export_follows_the_list_filters(cast, client_for):
    response = client_for(cast.ada).get(EXPORT, {"unit": "SOUTH"})
    numbers = {row[0] for row in workbook(response).active.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"E0004"}


def test_the_export_query_count_does_not_grow_with_rows(cast, client_for):
    client = client_for(cast.ada)
    with CaptureQueriesContext(connection) as few:
        b"".join(client.get(EXPORT).streaming_content)
    for i in range(40):
        make_employee(f"E{2000 + i}", "新人", cast.east_sales, manager=cast.mike)
    with CaptureQueriesContext(connection) as many:
        b"".join(client.get(EXPORT).streaming_content)
    assert len(many) == len(few)


def test_formula_text_is_neutralised_in_the_downloaded_export(cast, client_for):
    Employee.objects.filter(pk=cast.amy.pk).update(name="=1+1")
    response = client_for(cast.ada).get(EXPORT)
    sheet = workbook(response).active
    amy = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == "E0003")
    assert (amy[1].value, amy[1].data_type) == ("'=1+1", "s")
