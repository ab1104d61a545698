import datetime as dt
import io

import openpyxl
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from kaohe.org.models import Employee

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
HEADER = "employee_no,name,org_unit,manager,position,hire_date\n"


@pytest.fixture(autouse=True)
def _english_and_frozen_time():
    with translation.override("en"), time_machine.travel(TODAY, tick=False):
        yield


def people_file(tmp_path, *lines: str, encoding="utf-8"):
    path = tmp_path / "people.csv"
    path.write_bytes((HEADER + "".join(line + "\n" for line in lines)).encode(encoding))
    return str(path)


def kaohe_import(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_employees_and_prints_the_counts(cast, tmp_path):
    file = people_file(
        tmp_path,
        "E1001,王芳,EAST-S,E0002,销售代表,2024-01-02",
        "E0003,艾米,EAST-S,E0002,销售代表,2020-03-01",
        "E0004,奥尔加,SOUTH,,大客户经理,2020-03-01",
        encoding="gbk",
    )
    out, _err = kaohe_import("employees", file)
    assert "created 1, updated 1, unchanged 1" in out
    assert Employee.objects.get(employee_no="E1001").manager == cast.mike


def test_the_command_acts_with_full_rights_across_all_units(cast, tmp_path):
    file = people_file(tmp_path, "E1001,甲,SOUTH,,,2024-01-02", "E1002,乙,HQ,,,2024-01-02")
    kaohe_import("employees", file)
    assert Employee.objects.filter(employee_no__in=["E1001", "E1002"]).count() == 2


def test_row_errors_are_printed_and_nothing_is_imported(cast, tmp_path):
    file = people_file(
        tmp_path,
        "E1001,甲,EAST-S,,,2024-01-02",
        "E1002,乙,NOWHERE,,,2024-01-02",
        "E1003,丙,EAST-S,E9999,,2024-13-01",
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 errors; nothing was imported"):
        call_command("import", "employees", file, stdout=io.StringIO(), stderr=err)
    assert [line.split(":")[0] for line in err.getvalue().splitlines()] == [
        "row 3, column org_unit",
        "row 4, column manager",
        "row 4, column hire_date",
    ]
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_a_missing_column_is_printed_as_a_file_error(cast, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("employee_no,name,org_unit\nE1001,甲,EAST-S\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import", "employees", str(path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().startswith("column hire_date: ")


def test_a_dry_run_counts_and_writes_nothing(cast, tmp_path):
    file = people_file(tmp_path, "E1001,甲,EAST-S,,,2024-01-02")
    out, _err = kaohe_import("employees", file, "--dry-run")
    assert "created 1" in out and "dry run" in out
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_the_effective_date_starts_the_new_placements(cast, tmp_path):
    file = people_file(tmp_path, "E0003,艾米,EAST-S,E0001,销售代表,2020-03-01")
    kaohe_import("employees", file, "--effective", "2026-05-01")
    current = cast.amy.placements.get(valid_to__isnull=True)
    assert (current.valid_from, current.manager) == (dt.date(2026, 5, 1), cast.dora)


def test_a_malformed_effective_date_is_refused(cast, tmp_path):
    file = people_file(tmp_path, "E1001,甲,EAST-S,,,2024-01-02")
    with pytest.raises(CommandError, match="not a date"):
        kaohe_import("employees", file, "--effective", "1 May")


def test_a_missing_file_is_refused(cast, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        kaohe_import("employees", str(tmp_path / "nope.csv"))


def test_a_kind_must_be_named(cast):
    with pytest.raises(CommandError):
        kaohe_import()
    with pytest.raises(CommandError):
        kaohe_import("planets", "file.csv")


def test_an_xlsx_file_is_recognised_by_its_content_not_its_name(cast, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["工号", "姓名", "组织编码", "入职日期"])
    book.active.append(["E1001", "王芳", "EAST-S", dt.datetime(2024, 1, 2)])
    path = tmp_path / "people.dat"
    book.save(path)
    out, _err = kaohe_import("employees", str(path))
    assert "created 1" in out
    assert Employee.objects.get(employee_no="E1001").hire_date == dt.date(2024, 1, 2)
