import datetime as dt
import io

import openpyxl
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from kaohe.integrations.tests.factories import make_source
from kaohe.lib.tabular import cell_text, read_table
from kaohe.metrics.models import Fact
from kaohe.metrics.testing import make_sales_metrics
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


# --- facts ----------------------------------------------------------------------------

FACTS_HEADER = "外部编号,员工编号,指标,数值,发生时间\n"


@pytest.fixture
def crm(cast):
    make_sales_metrics()
    return make_source("crm")


def facts_file(tmp_path, *lines: str, encoding="utf-8", name="facts.csv"):
    path = tmp_path / name
    path.write_bytes((FACTS_HEADER + "".join(line + "\n" for line in lines)).encode(encoding))
    return str(path)


def test_it_imports_facts_and_prints_the_counts(crm, tmp_path):
    file = facts_file(tmp_path, "D-1,E0003,sales_amount,100.50,2026-05-03 10:00",
                      "D-2,E0004,sales_amount,20,2026-05-04", encoding="gbk")  # fmt: skip

    out, _err = kaohe_import("facts", file, "--source", "crm")

    assert "created 2, updated 0, unchanged 0, voided 0, rejected 0" in out
    assert Fact.objects.count() == 2


def test_rejected_fact_rows_are_printed_and_the_command_fails_but_good_rows_stay(crm, tmp_path):
    file = facts_file(tmp_path, "D-1,E0003,sales_amount,1,2026-05-03",
                      "D-2,E9999,sales_amount,1,2026-05-03",
                      "D-3,E0003,sales_amount,many,2026-05-03")  # fmt: skip
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="2 rows were rejected; the other rows were applied"):
        call_command("import", "facts", file, "--source", "crm", stdout=out, stderr=err)

    assert "created 1," in out.getvalue()
    assert [line.split(":")[0] for line in err.getvalue().splitlines()] == [
        "row 3, column 员工编号",
        "row 4, column 数值",
    ]
    assert list(Fact.objects.values_list("external_id", flat=True)) == ["D-1"]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_the_report_lists_every_rejected_row(crm, tmp_path, suffix):
    file = facts_file(tmp_path, *(f"D-{i},E9999,sales_amount,1,2026-05-03" for i in range(60)))
    report = tmp_path / f"problems.{suffix}"
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("import", "facts", file, "--source", "crm", "--report", str(report),
                     stdout=io.StringIO(), stderr=err)  # fmt: skip

    assert "and 10 more problems" in err.getvalue()
    rows = list(read_table(report).rows)
    assert len(rows) == 60
    assert [cell_text(c) for c in rows[0][1]] == ["2", "员工编号", "There is no such employee."]


def test_a_report_must_be_csv_or_xlsx(crm, tmp_path):
    file = facts_file(tmp_path, "D-1,E0003,sales_amount,1,2026-05-03")
    with pytest.raises(CommandError, match=r"\.csv or \.xlsx"):
        kaohe_import("facts", file, "--source", "crm", "--report", str(tmp_path / "r.txt"))
    assert not Fact.objects.exists()


def test_a_missing_fact_column_refuses_the_file(crm, tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text("external_id,employee,value\nD-1,E0003,1\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="The file was not imported"):
        call_command("import", "facts", str(path), "--source", "crm", stdout=io.StringIO(),
                     stderr=err)  # fmt: skip
    assert err.getvalue().startswith("column metric: ")


def test_a_source_must_be_named(crm, tmp_path):
    file = facts_file(tmp_path, "D-1,E0003,sales_amount,1,2026-05-03")
    with pytest.raises(CommandError, match="--source"):
        kaohe_import("facts", file)
