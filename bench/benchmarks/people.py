"""People import and export at company scale (default 100,000 employees).

Baselines from the same run: parsing the XLSX alone, and inserting the same rows into a
scratch SQLite table with `executemany` (the plainest possible write). The import's
target is a multiple of the two together: it also validates every row, resolves
managers, writes placements and keeps all of it in one transaction.
"""

import datetime as dt
import io
import os
import random
import sqlite3
from pathlib import Path

from benchmarks import Measurement, benchmark, timed

SIZE = int(os.environ.get("KAOHE_BENCH_PEOPLE", "100000"))
FORMAT_VERSION = 1  # bump when the generated file changes, so cached copies are rebuilt
REGIONS, DEPARTMENTS_PER_REGION, SPAN = 10, 10, 10
HEADER = ["employee_no", "name", "org_unit", "manager", "position", "gender", "birth_date",
          "hire_date", "status", "email", "mobile"]  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宇浩然欣怡子涵晨阳"
POSITIONS = ["销售代表", "客户经理", "大客户经理", "销售主管", "区域经理", "运营专员", "财务专员"]


@benchmark
def people_import(scratch: Path) -> dict[str, Measurement]:
    from kaohe.org.people_io import import_people

    label = f"{SIZE // 1000}k" if SIZE >= 1000 else str(SIZE)
    path = people_xlsx(scratch, create_units())
    parse_seconds, rows = timed(parse_only, path)
    insert_seconds = raw_insert(scratch, rows)
    import_seconds, first = timed(import_people, path)
    assert first.ok and first.created == SIZE, first.errors[:5]
    reimport_seconds, second = timed(import_people, path)
    assert second.ok and second.unchanged == SIZE, (second.created, second.updated)
    export_seconds = timed(export_all)[0]
    floor = parse_seconds + insert_seconds
    return {
        f"people.parse_xlsx_{label}": Measurement(parse_seconds),
        f"people.raw_sqlite_insert_{label}": Measurement(insert_seconds),
        f"people.import_{label}": Measurement(import_seconds, baseline=floor, target=4.0),
        f"people.reimport_unchanged_{label}": Measurement(
            reimport_seconds, baseline=parse_seconds, target=3.0
        ),
        f"people.export_{label}": Measurement(export_seconds, baseline=parse_seconds, target=2.0),
    }


# --- the company ----------------------------------------------------------------------


def create_units() -> list[str]:
    """HQ, 10 regions, 10 departments in each: the codes of the departments."""
    from kaohe.org.testing import make_unit

    hq = make_unit("HQ", "总部")
    departments = []
    for r in range(1, REGIONS + 1):
        region = make_unit(f"R{r:02d}", f"第{r}大区", hq)
        for d in range(1, DEPARTMENTS_PER_REGION + 1):
            code = f"R{r:02d}-D{d:02d}"
            make_unit(code, f"第{r}大区第{d}部", region)
            departments.append(code)
    return departments


def person(index: int, departments: list[str]) -> list:
    """Employee `index`: a tree with SPAN reports per manager, every cell filled."""
    no = employee_no(index)
    manager = employee_no((index - 1) // SPAN) if index else ""
    name = SURNAMES[index % len(SURNAMES)] + GIVEN[index // len(SURNAMES) % len(GIVEN)]
    if index % 3 == 0:
        name += GIVEN[index // 7 % len(GIVEN)]
    return [
        no,
        name,
        "HQ" if index == 0 else departments[index % len(departments)],
        manager,
        POSITIONS[index % len(POSITIONS)],
        "male" if index % 2 else "female",
        dt.datetime(1970, 1, 1) + dt.timedelta(days=index * 37 % 12000),
        dt.datetime(2000, 1, 1) + dt.timedelta(days=index * 13 % 9000),
        "probation" if index % 17 == 0 else "active",
        f"{no.lower()}@example.com",
        f"138{index:08d}",
    ]


def employee_no(index: int) -> str:
    return f"E{index + 1:06d}"


def people_xlsx(scratch: Path, departments: list[str]) -> Path:
    """The deterministic test file, generated once per size and format version.

    Rows are shuffled so that most managers come after some of their reports.
    """
    from kaohe.lib.tabular import write_xlsx

    path = scratch / f"people-{SIZE}-v{FORMAT_VERSION}.xlsx"
    if not path.exists():
        order = list(range(SIZE))
        random.Random(20260615).shuffle(order)
        partial = path.with_suffix(".partial")
        write_xlsx(partial, HEADER, (person(i, departments) for i in order), "people")
        partial.rename(path)
    return path


# --- baselines and export -------------------------------------------------------------


def parse_only(path: Path) -> list[tuple]:
    from kaohe.lib.tabular import read_table

    return [cells for _number, cells in read_table(path).rows]


def raw_insert(scratch: Path, rows: list[tuple]) -> float:
    """Seconds to insert `rows` with sqlite3.executemany, tuned as kaohe's database is."""
    database = scratch / "raw-insert.sqlite3"
    database.unlink(missing_ok=True)
    plain = [tuple(_sqlite_value(cell) for cell in row) for row in rows]
    connection = sqlite3.connect(database)
    connection.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        f"CREATE TABLE people ({', '.join(f'{column} TEXT' for column in HEADER)});"
    )
    seconds, _ = timed(_insert_all, connection, plain)
    connection.close()
    return seconds


def _insert_all(connection: sqlite3.Connection, rows: list[tuple]) -> None:
    marks = ", ".join("?" * len(HEADER))
    with connection:
        connection.executemany(f"INSERT INTO people VALUES ({marks})", rows)  # noqa: S608


def _sqlite_value(cell):
    return cell.date().isoformat() if isinstance(cell, dt.datetime) else cell


def export_all() -> int:
    from django.contrib.auth import get_user_model

    from kaohe.org.people_io import export_people

    everyone = get_user_model()(username="bench", is_superuser=True, is_active=True)
    target = io.BytesIO()
    export_people(target, everyone)
    return target.tell()
