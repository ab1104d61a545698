import csv
import datetime as dt
import io

import openpyxl
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from kaohe.lib import tabular
from kaohe.org import people_io
from kaohe.org.models import Employee, Placement
from kaohe.org.people_io import export_people, import_people
from kaohe.org.testing import make_employee, make_unit

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
EFFECTIVE = dt.date(2026, 6, 1)


@pytest.fixture(autouse=True)
def _english_and_frozen_time():
    with translation.override("en"), time_machine.travel(TODAY, tick=False):
        yield


def person(no, name, org_unit="EAST-S", hire_date="2024-01-02", **more) -> dict:
    return {"employee_no": no, "name": name, "org_unit": org_unit, "hire_date": hire_date, **more}


def csv_file(*rows: dict, encoding="utf-8", delimiter=",") -> io.BytesIO:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return io.BytesIO(text.getvalue().encode(encoding))


def xlsx_file(header: list, *rows: list) -> io.BytesIO:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    data.seek(0)
    return data


def run(file, actor=None, **options):
    return import_people(
        file, actor=actor, effective=options.pop("effective", EFFECTIVE), **options
    )


def problems(result) -> set[tuple]:
    return {(error.row, error.column) for error in result.errors}


def message_at(result, row, column) -> str:
    return next(e.message for e in result.errors if (e.row, e.column) == (row, column))


def exported(viewer) -> openpyxl.Workbook:
    data = io.BytesIO()
    export_people(data, viewer)
    data.seek(0)
    return openpyxl.load_workbook(data)


# --- creating -------------------------------------------------------------------------


def test_a_new_employee_is_created_with_a_placement_from_her_hire_date(cast):
    result = run(csv_file(person("E1001", "王芳", manager="E0002", position="销售代表")))
    assert (result.created, result.updated, result.unchanged, result.errors) == (1, 0, 0, [])
    fang = Employee.objects.get(employee_no="E1001")
    assert (fang.org_unit, fang.manager, fang.status) == (cast.east_sales, cast.mike, "active")
    placement = fang.placements.get()
    assert (placement.valid_from, placement.valid_to) == (dt.date(2024, 1, 2), None)
    assert (placement.org_unit, placement.manager, placement.position) == (
        cast.east_sales,
        cast.mike,
        "销售代表",
    )


def test_the_importing_user_is_recorded_on_the_placements(cast):
    run(csv_file(person("E1001", "王芳")), actor=cast.hazel)
    placement = Placement.objects.get(employee__employee_no="E1001")
    assert (placement.recorded_by, placement.recorded_at) == (cast.hazel, TODAY)
    assert placement.reason


def test_chinese_headers_and_values_are_understood(cast):
    header = ["工号", "姓名", "组织编码", "直属上级工号", "岗位", "性别", "出生日期", "入职日期",
              "状态", "邮箱", "手机"]  # fmt: skip
    row = ["E1001", "王芳", "EAST-S", "E0002", "销售代表", "女", "1990/5/6", "2024/01/02",
           "试用期", "wf@example.com", "13800000000"]  # fmt: skip
    result = run(xlsx_file(header, row))
    assert result.ok, result.errors
    fang = Employee.objects.get(employee_no="E1001")
    assert (fang.gender, fang.status, fang.birth_date) == (
        "female",
        "probation",
        dt.date(1990, 5, 6),
    )
    assert (fang.mobile, fang.email, fang.hire_date) == (
        "13800000000",
        "wf@example.com",
        dt.date(2024, 1, 2),
    )


def test_a_department_header_is_taken_as_the_org_unit_code(cast):
    file = csv_file({"工号": "E1001", "姓名": "王芳", "部门": "SOUTH", "入职日期": "2024-01-02"})
    assert run(file).ok
    assert Employee.objects.get(employee_no="E1001").org_unit == cast.south


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_a_csv_of_chinese_names_is_decoded_in_any_common_encoding(cast, encoding):
    rows = [person(f"E10{i:02d}", name) for i, name in enumerate(["张伟", "李娜", "欧阳晓燕"])]
    assert run(csv_file(*rows, encoding=encoding)).created == 3
    assert set(
        Employee.objects.filter(employee_no__startswith="E10").values_list("name", flat=True)
    ) == {
        "张伟",
        "李娜",
        "欧阳晓燕",
    }


def test_a_gb18030_csv_with_a_name_outside_gbk_is_decoded(cast):
    rare = "王𪚥"  # the second character needs GB18030's four-byte form; GBK has no code for it
    with pytest.raises(UnicodeEncodeError):
        rare.encode("gbk")
    assert run(csv_file(person("E1001", rare), encoding="gb18030")).ok
    assert Employee.objects.get(employee_no="E1001").name == rare


def test_excels_unicode_text_export_is_understood(cast):
    # "Unicode Text" in Excel's Save As: UTF-16 with a BOM, separated by tabs.
    assert run(csv_file(person("E1001", "王芳"), encoding="utf-16", delimiter="\t")).created == 1
    assert Employee.objects.get(employee_no="E1001").name == "王芳"


def test_a_semicolon_separated_csv_is_understood(cast):
    assert run(csv_file(person("E1001", "王芳"), delimiter=";")).created == 1


def test_an_xlsx_with_real_date_cells_is_read(cast):
    header = ["employee_no", "name", "org_unit", "hire_date", "birth_date"]
    row = ["E1001", "王芳", "EAST-S", dt.datetime(2024, 1, 2), dt.date(1990, 5, 6)]
    assert run(xlsx_file(header, row)).ok
    fang = Employee.objects.get(employee_no="E1001")
    assert (fang.hire_date, fang.birth_date) == (dt.date(2024, 1, 2), dt.date(1990, 5, 6))


def test_numbers_typed_as_numbers_in_excel_keep_their_digits(cast):
    header = ["employee_no", "name", "org_unit", "hire_date", "mobile"]
    assert run(xlsx_file(header, [1001, "王芳", "EAST-S", "2024-01-02", 13800000000.0])).ok
    assert Employee.objects.get(employee_no="1001").mobile == "13800000000"


def test_a_manager_may_appear_later_in_the_file_than_her_reports(cast):
    rows = [
        person("E1003", "小组员", manager="E1002"),
        person("E1002", "组长", manager="E1001"),
        person("E1001", "经理", manager="E0001"),
    ]
    assert run(csv_file(*rows)).created == 3
    chain = Employee.objects.get(employee_no="E1003")
    assert chain.manager.employee_no == "E1002"
    assert chain.manager.manager.employee_no == "E1001"
    assert chain.manager.manager.manager == cast.dora
    placement = Placement.objects.get(employee=chain)
    assert placement.manager.employee_no == "E1002"


def test_progress_is_reported_while_reading(cast):
    seen = []
    run(csv_file(person("E1001", "王芳")), progress=lambda done, total: seen.append(done))
    assert seen[-1] == 1


def test_the_number_of_queries_does_not_grow_with_rows(cast):
    def queries_for(count: int, start: int) -> int:
        rows = [person(f"E{start + i}", "甲", manager="E0002") for i in range(count)]
        with CaptureQueriesContext(connection) as captured:
            assert run(csv_file(*rows)).created == count
        return len(captured)

    queries_for(1, 1000)  # the first import also starts the evidence log and its key
    assert queries_for(3, 2000) == queries_for(60, 3000)


# --- row errors -----------------------------------------------------------------------


def test_a_manager_cycle_within_the_file_is_reported_on_each_row_of_it(cast):
    rows = [
        person("E1001", "甲", manager="E1002"),
        person("E1002", "乙", manager="E1003"),
        person("E1003", "丙", manager="E1001"),
        person("E1004", "丁", manager="E1001"),
    ]
    result = run(csv_file(*rows))
    assert problems(result) == {(2, "manager"), (3, "manager"), (4, "manager")}
    assert "E1001 → E1002 → E1003 → E1001" in message_at(result, 2, "manager")
    assert not Employee.objects.filter(employee_no__startswith="E10").exists()


def test_a_cycle_through_employees_already_in_kaohe_is_reported(cast):
    # amy reports to mike, who reports to dora; making amy dora's manager closes the loop.
    result = run(csv_file(person("E0001", "杜拉", org_unit="EAST", manager="E0003")))
    assert problems(result) == {(2, "manager")}
    assert "cycle" in message_at(result, 2, "manager")


def test_an_employee_cannot_be_her_own_manager(cast):
    result = run(csv_file(person("E1001", "甲", manager="E1001")))
    assert message_at(result, 2, "manager") == "An employee cannot be their own manager."


def test_an_unknown_org_unit_is_reported_with_its_row_and_column(cast):
    result = run(csv_file(person("E1001", "甲"), person("E1002", "乙", org_unit="NOWHERE")))
    assert problems(result) == {(3, "org_unit")}
    assert "NOWHERE" in message_at(result, 3, "org_unit")


def test_a_manager_neither_in_the_file_nor_in_kaohe_is_reported(cast):
    result = run(csv_file(person("E1001", "甲", manager="E9999")))
    assert problems(result) == {(2, "manager")}
    assert "E9999" in message_at(result, 2, "manager")


UNUSABLE_NUMBERS = {
    "A/1": "An employee number may not contain spaces or slashes, nor start with a dot.",
    "E 1": "An employee number may not contain spaces or slashes, nor start with a dot.",
    "E\u30001": "An employee number may not contain spaces or slashes, nor start with a dot.",
    ".x": "An employee number may not contain spaces or slashes, nor start with a dot.",
    "import": "import is reserved and cannot be an employee number.",
    "EXPORT.XLSX": "EXPORT.XLSX is reserved and cannot be an employee number.",
}


@pytest.mark.parametrize("bad", UNUSABLE_NUMBERS)
def test_a_number_that_cannot_be_one_path_segment_or_is_reserved_is_refused(cast, bad):
    result = run(csv_file(person("E1001", "甲"), person(bad, "乙")))
    assert problems(result) == {(3, "employee_no")}
    assert message_at(result, 3, "employee_no") == UNUSABLE_NUMBERS[bad]
    assert Employee.objects.count() == 4 and Placement.objects.count() == 4


@pytest.mark.parametrize("bad", UNUSABLE_NUMBERS)
def test_an_unusable_manager_number_is_refused(cast, bad):
    result = run(csv_file(person("E1001", "甲"), person("E1002", "乙", manager=bad)))
    assert problems(result) == {(3, "manager")}
    assert message_at(result, 3, "manager") == UNUSABLE_NUMBERS[bad]
    assert Employee.objects.count() == 4 and Placement.objects.count() == 4


def test_an_unusable_number_in_chinese_columns_names_the_chinese_column(cast):
    file = csv_file({"工号": "E1001", "姓名": "甲", "组织编码": "EAST-S", "入职日期": "2024-01-02",
                     "直属上级工号": "a/b"})  # fmt: skip
    assert problems(run(file)) == {(2, "直属上级工号")}


def test_spaces_around_a_number_are_trimmed_like_any_cell(cast):
    result = run(csv_file(person(" E1001\u3000", "甲", manager=" E0002 ")))
    assert result.ok, result.errors
    assert Employee.objects.get(employee_no="E1001").manager == cast.mike


def test_an_org_unit_code_no_unit_can_have_is_not_looked_up(cast):
    make_unit("EAST/S", "斜杠部门", cast.east)  # made before codes followed the rule
    result = run(csv_file(person("E1001", "甲", org_unit="EAST/S")))
    assert problems(result) == {(2, "org_unit")}
    assert message_at(result, 2, "org_unit") == "There is no org unit EAST/S."
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_the_people_list_renders_after_an_import(cast, client_for):
    rows = [person("E1001", "甲", manager="E0002"), person("x.1", "乙", manager="E1001")]
    assert run(csv_file(*rows)).ok
    response = client_for(cast.ada).get("/people/")
    assert response.status_code == 200
    assert "/people/x.1/" in response.content.decode()
    assert client_for(cast.ada).get("/people/x.1/").status_code == 200


def test_a_duplicate_employee_number_is_reported_on_the_later_row(cast):
    result = run(csv_file(person("E1001", "甲"), person("E1002", "乙"), person("E1001", "丙")))
    assert problems(result) == {(4, "employee_no")}
    assert "row 2" in message_at(result, 4, "employee_no")


@pytest.mark.parametrize("bad", ["2024-13-01", "02/01/2024", "yesterday", "2024-02-30"])
def test_a_bad_date_is_reported(cast, bad):
    result = run(csv_file(person("E1001", "甲", hire_date=bad)))
    assert problems(result) == {(2, "hire_date")}
    assert "YYYY-MM-DD" in message_at(result, 2, "hire_date")


def test_a_bad_email_is_reported(cast):
    result = run(csv_file(person("E1001", "甲", email="not-an-address")))
    assert problems(result) == {(2, "email")}


def test_an_unknown_gender_or_status_is_reported(cast):
    result = run(csv_file(person("E1001", "甲", gender="x", status="retired")))
    assert problems(result) == {(2, "gender"), (2, "status")}


def test_a_required_value_left_empty_is_reported(cast):
    result = run(csv_file(person("E1001", "", hire_date="")))
    assert problems(result) == {(2, "name"), (2, "hire_date")}


def test_errors_name_the_column_as_the_file_does(cast):
    file = csv_file({"工号": "E1001", "姓名": "甲", "组织编码": "EAST-S", "入职日期": "soon"})
    assert problems(run(file)) == {(2, "入职日期")}


def test_a_missing_required_column_is_reported_once_for_the_file(cast):
    rows = [{"employee_no": f"E10{i:02d}", "name": "甲", "org_unit": "EAST"} for i in range(5)]
    result = run(csv_file(*rows))
    assert problems(result) == {(None, "hire_date")}
    assert "入职日期" in result.errors[0].message


def test_every_error_is_listed_not_just_the_first(cast):
    rows = [
        person("E1001", "甲", org_unit="NOWHERE"),
        person("E1002", "乙", hire_date="never"),
        person("E1003", "丙", manager="E9999", email="bad"),
    ]
    result = run(csv_file(*rows))
    assert problems(result) == {(2, "org_unit"), (3, "hire_date"), (4, "manager"), (4, "email")}
    assert [error.row for error in result.errors] == sorted(e.row for e in result.errors)


def test_nothing_is_written_when_any_row_has_an_error(cast):
    rows = [person("E1001", "甲"), person("E0003", "艾米改名"), person("E1002", "乙", org_unit="X")]
    result = run(csv_file(*rows))
    assert not result.ok
    assert not Employee.objects.filter(employee_no__in=["E1001", "E1002"]).exists()
    cast.amy.refresh_from_db()
    assert cast.amy.name == "艾米"
    assert Placement.objects.count() == 4


def test_an_unreadable_file_is_one_file_level_error(cast):
    for junk in (b"", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old xls", b"PK\x03\x04broken zip"):
        result = run(io.BytesIO(junk))
        assert len(result.errors) == 1 and result.errors[0].row is None


def test_a_file_with_too_many_rows_is_refused_before_anything_is_checked(cast, monkeypatch):
    monkeypatch.setattr(people_io, "MAX_ROWS", 2)
    result = run(csv_file(*(person(f"E10{i:02d}", "甲") for i in range(3))))
    assert problems(result) == {(None, "")}
    assert "more than 2 rows" in result.errors[0].message


def test_an_effective_date_in_the_future_is_refused(cast):
    result = run(csv_file(person("E1001", "甲")), effective=dt.date(2026, 7, 1))
    assert problems(result) == {(None, "")}
    assert not Employee.objects.filter(employee_no="E1001").exists()


# --- permissions ----------------------------------------------------------------------


def test_an_hr_partner_may_import_into_her_own_units(cast):
    result = run(csv_file(person("E1001", "甲", org_unit="EAST-S")), actor=cast.hazel)
    assert result.ok and result.created == 1


def test_an_hr_partner_cannot_place_people_in_units_outside_her_scope(cast):
    rows = [person("E1001", "甲", org_unit="SOUTH"), person("E1002", "乙", org_unit="EAST-S")]
    result = run(csv_file(*rows), actor=cast.harry)
    assert problems(result) == {(3, "org_unit")}
    assert not Employee.objects.filter(employee_no="E1001").exists()


def test_an_hr_partner_cannot_change_an_existing_employee_outside_her_scope(cast):
    result = run(csv_file(person("E0003", "艾米", org_unit="SOUTH")), actor=cast.harry)
    assert problems(result) == {(2, "employee_no")}
    # Neutral, and worded as the API's answer: nothing about who the employee is.
    assert message_at(result, 2, "employee_no") == "Employee number E0003 is not available to you."
    cast.amy.refresh_from_db()
    assert cast.amy.org_unit == cast.east_sales


def test_someone_without_an_hr_role_can_import_nothing(cast):
    result = run(csv_file(person("E1001", "甲")), actor=cast.amy.user)
    assert problems(result) == {(2, "org_unit")}


# --- updating and placements ----------------------------------------------------------


def test_importing_the_same_file_twice_leaves_everything_unchanged_the_second_time(cast):
    rows = [
        person("E1002", "乙", manager="E1001", gender="男", status="在职", email="b@example.com"),
        person("E1001", "甲", manager="E0001", birth_date="1980-01-01", mobile="+8613800000000"),
    ]
    first = run(csv_file(*rows))
    second = run(csv_file(*rows))
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert Placement.objects.filter(employee__employee_no__in=["E1001", "E1002"]).count() == 2


def test_a_changed_manager_closes_the_open_placement_and_opens_a_new_one(cast):
    row = person("E0003", "艾米", manager="E0001", position="销售代表", hire_date="2020-03-01")
    result = run(csv_file(row))
    assert (result.updated, result.unchanged) == (1, 0)
    before, after = cast.amy.placements.order_by("valid_from")
    assert (before.manager, before.valid_to) == (cast.mike, EFFECTIVE)
    assert (after.manager, after.valid_from, after.valid_to) == (cast.dora, EFFECTIVE, None)
    cast.amy.refresh_from_db()
    assert cast.amy.manager == cast.dora


def test_a_change_on_the_day_the_current_placement_began_updates_it_in_place(cast):
    Placement.objects.filter(employee=cast.amy).update(valid_from=EFFECTIVE)
    run(csv_file(person("E0003", "艾米", org_unit="EAST", hire_date="2020-03-01")))
    placement = cast.amy.placements.get()
    assert (placement.org_unit, placement.valid_from, placement.valid_to) == (
        cast.east,
        EFFECTIVE,
        None,
    )


def test_an_effective_date_before_the_current_placement_began_is_reported(cast):
    Placement.objects.filter(employee=cast.amy).update(valid_from=dt.date(2026, 6, 10))
    result = run(csv_file(person("E0003", "艾米", org_unit="EAST", hire_date="2020-03-01")))
    assert problems(result) == {(2, "employee_no")}
    assert "2026-06-10" in message_at(result, 2, "employee_no")


def test_a_change_outside_unit_manager_and_position_keeps_the_placement(cast):
    result = run(csv_file({"employee_no": "E0003", "name": "艾米米", "org_unit": "EAST-S",
                           "hire_date": "2020-03-01", "manager": "E0002"}))  # fmt: skip
    assert result.updated == 1
    assert cast.amy.placements.count() == 1
    cast.amy.refresh_from_db()
    assert cast.amy.name == "艾米米"


def test_columns_missing_from_the_file_leave_existing_values_alone(cast):
    result = run(csv_file(person("E0003", "艾米", hire_date="2020-03-01")))
    assert (result.updated, result.unchanged) == (0, 1)
    cast.amy.refresh_from_db()
    assert (cast.amy.manager, cast.amy.position, cast.amy.gender) == (
        cast.mike,
        "销售代表",
        "female",
    )


def test_an_empty_manager_cell_removes_the_manager(cast):
    run(csv_file(person("E0003", "艾米", hire_date="2020-03-01", manager="", position="销售代表")))
    cast.amy.refresh_from_db()
    assert cast.amy.manager is None


def test_a_dry_run_counts_but_writes_nothing(cast):
    rows = [person("E1001", "甲"), person("E0003", "艾米", hire_date="2020-03-01", position="组长")]
    result = run(csv_file(*rows), dry_run=True)
    assert (result.created, result.updated, result.dry_run) == (1, 1, True)
    assert not Employee.objects.filter(employee_no="E1001").exists()
    cast.amy.refresh_from_db()
    assert cast.amy.position == "销售代表"


# --- export ---------------------------------------------------------------------------


def test_an_export_reimports_as_unchanged(cast):
    data = io.BytesIO()
    export_people(data, cast.ada)
    data.seek(0)
    result = run(data, actor=cast.ada)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.unchanged) == (0, 0, 4)


def test_an_export_in_chinese_uses_chinese_headers_and_words_and_reimports(cast):
    with translation.override("zh-hans"):
        data = io.BytesIO()
        export_people(data, cast.ada)
    data.seek(0)
    sheet = openpyxl.load_workbook(data).active
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["工号", "姓名", "组织编码"]
    amy = next(row for row in sheet.iter_rows(values_only=True) if row[0] == "E0003")
    assert amy[header.index("性别")] == "女" and amy[header.index("状态")] == "在职"
    data.seek(0)
    assert run(data).unchanged == 4


def test_an_export_has_the_import_columns_and_real_date_cells(cast):
    sheet = exported(cast.ada).active
    assert [cell.value for cell in sheet[1]] == [
        "employee_no", "name", "org_unit", "manager", "position", "gender", "birth_date",
        "hire_date", "status", "email", "mobile",
    ]  # fmt: skip
    amy = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == "E0003")
    assert amy[3].value == "E0002"
    assert amy[7].is_date and amy[7].value.date() == dt.date(2020, 3, 1)


def test_formula_like_text_is_neutralised_in_the_export(cast):
    Employee.objects.filter(pk=cast.amy.pk).update(
        name='=HYPERLINK("http://evil.example","点我")', position="+1", mobile="-1", email=""
    )
    sheet = exported(cast.ada).active
    amy = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == "E0003")
    assert amy[1].value == '\'=HYPERLINK("http://evil.example","点我")'
    assert amy[1].data_type == "s"
    assert (amy[4].value, amy[10].value) == ("'+1", "'-1")


def test_a_neutralised_export_reads_back_as_the_original_text(cast):
    Employee.objects.filter(pk=cast.amy.pk).update(name="=1+1", mobile="+8613800000000")
    data = io.BytesIO()
    export_people(data, cast.ada)
    data.seek(0)
    assert run(data).unchanged == 4


def test_an_export_by_harry_contains_no_east_people(cast):
    numbers = {row[0] for row in exported(cast.harry).active.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"E0004"}


def test_an_employee_exports_only_herself(cast):
    numbers = {
        row[0] for row in exported(cast.amy.user).active.iter_rows(min_row=2, values_only=True)
    }
    assert numbers == {"E0003"}


def test_neutralise_covers_every_formula_trigger():
    for text in ("=1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert tabular.neutralise(text) == "'" + text
        assert tabular.unneutralise(tabular.neutralise(text)) == text
    assert tabular.neutralise("艾米") == "艾米" and tabular.neutralise(5) == 5


def test_a_new_manager_the_importer_may_not_see_reads_as_unknown(cast):
    result = run(csv_file(person("E1001", "甲", manager="E0004")), actor=cast.hazel)
    assert problems(result) == {(2, "manager")}
    assert "E0004" in message_at(result, 2, "manager")


def test_an_unchanged_manager_the_importer_may_not_see_is_accepted(cast):
    make_employee("E0200", "跨区", cast.south, manager=cast.dora)
    row = person("E0200", "跨区", org_unit="SOUTH", manager="E0001", hire_date="2020-03-01")
    assert run(csv_file(row), actor=cast.harry).unchanged == 1


def test_a_corrected_hire_date_moves_the_start_of_the_first_placement(cast):
    result = run(csv_file(person("E0003", "艾米", hire_date="2020-02-01")))
    assert result.updated == 1
    assert cast.amy.placements.get().valid_from == dt.date(2020, 2, 1)


def test_a_long_cycle_is_shown_shortened_on_each_of_its_rows(cast):
    rows = [person(f"E{1000 + i}", "甲", manager=f"E{1000 + (i + 1) % 10}") for i in range(10)]
    result = run(csv_file(*rows))
    assert problems(result) == {(row, "manager") for row in range(2, 12)}
    assert message_at(result, 2, "manager").endswith("E1005 → ….")
