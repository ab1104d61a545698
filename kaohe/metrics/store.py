"""Writing facts and actuals in bulk, below the ORM: the ingest path's hot loop.

Model instances and per-field preparation cost more than the database does at a million
rows, so rows travel as plain tuples: PostgreSQL takes new facts by COPY, SQLite by
executemany, and both take the actuals' deltas as one multi-row upsert per chunk. The
values are written as Django itself would write them (see `_adapt`), so the ORM reads them
back unchanged.
"""

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from kaohe.metrics.models import VALUE_PLACES, Actual, Fact
from kaohe.org.models import Placement

QUERY_CHUNK = 2_000  # ids per IN (...) list, well inside SQLite's variable limit
QUANTUM = Decimal(1).scaleb(-VALUE_PLACES)


@dataclass(slots=True)
class Row:
    """A fact as the ingest path handles it; `id` is None until it is stored."""

    id: int | None
    external_id: str
    employee_id: int
    metric_id: int
    org_unit_id: int
    value: Decimal
    occurred_at: dt.datetime
    month: dt.date
    attributes: dict
    voided: bool

    @property
    def cell(self) -> tuple[int, int, dt.date, int]:
        return (self.employee_id, self.metric_id, self.month, self.org_unit_id)


_STORED = ("id", "external_id", "employee_id", "metric_id", "org_unit_id", "value",
           "occurred_at", "month", "attributes", "voided")  # fmt: skip


def existing(source: str, external_ids: list[str]) -> dict[str, Row]:
    """The stored facts of `source` with these external ids."""
    table = connection.ops.quote_name(Fact._meta.db_table)
    select = f"SELECT {', '.join(_STORED)} FROM {table} WHERE source = %s AND external_id"  # noqa: S608
    found: dict[str, Row] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            listed = _SEPARATOR.join(external_ids)
            cursor.execute(_EXISTING_POSTGRESQL.format(table=table), [listed, source])
            for values in cursor.fetchall():
                row = Row(*values)
                row.attributes = json.loads(row.attributes)  # Django reads jsonb as text
                found[row.external_id] = row
            return found
        for start in range(0, len(external_ids), QUERY_CHUNK):
            chunk = external_ids[start : start + QUERY_CHUNK]
            cursor.execute(f"{select} IN ({', '.join(['%s'] * len(chunk))})", [source, *chunk])
            for values in cursor.fetchall():
                found[values[1]] = _from_sqlite(values)
    return found


# One probe of the unique index per id, whatever the table's statistics say. Asked as
# `external_id = ANY(%s)` of a table never analysed (a first import, autovacuum behind or
# off), the planner guessed few rows for the source and read all of them through
# (source, received_at): a chunk's lookup grew with the table, 10 ms at 100,000 facts and
# 120 ms at a million. A LIMIT keeps the subquery from being flattened into a join that
# it could hash the same way. The ids travel as one string that the server splits: an
# array of 10,000 is adapted element by element in Python. The separator, a control
# character, is in no external id (items.read_item rejects them).
_SEPARATOR = "\x1f"
_EXISTING_POSTGRESQL = f"""
SELECT {", ".join(f"f.{column}" for column in _STORED)}
FROM unnest(string_to_array(%s, chr(31))) AS wanted(external_id),
    LATERAL (SELECT * FROM {{table}} AS stored
             WHERE stored.source = %s AND stored.external_id = wanted.external_id
             LIMIT 1) AS f
"""  # noqa: S608

_DECIMALS = decimal.Context(prec=15)  # as Django reads a decimal back from SQLite


def _from_sqlite(values: tuple) -> Row:
    pk, external_id, employee_id, metric_id, unit_id, value, at, month, attributes, voided = values
    if isinstance(value, float):
        value = _DECIMALS.create_decimal_from_float(value)
    return Row(
        pk, external_id, employee_id, metric_id, unit_id,
        Decimal(value).quantize(QUANTUM),
        at.replace(tzinfo=dt.UTC),  # Django's converters give naive UTC times and dates
        month,
        json.loads(attributes),
        bool(voided),
    )  # fmt: skip


def placements(employee_ids: list[int]) -> list[tuple[int, dt.date, int]]:
    """(employee id, valid_from, org unit id) of every placement of these employees, in
    order of employee and date."""
    table = connection.ops.quote_name(Placement._meta.db_table)
    select = f"SELECT employee_id, valid_from, org_unit_id FROM {table} WHERE employee_id"  # noqa: S608
    order = "ORDER BY employee_id, valid_from"
    found: list[tuple[int, dt.date, int]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{select} = ANY(%s) {order}", [employee_ids])
            return cursor.fetchall()
        for start in range(0, len(employee_ids), QUERY_CHUNK):
            chunk = employee_ids[start : start + QUERY_CHUNK]
            cursor.execute(f"{select} IN ({', '.join(['%s'] * len(chunk))}) {order}", chunk)
            found += cursor.fetchall()
    return found


_INSERTED = ("source", "external_id", "employee_id", "metric_id", "org_unit_id", "value",
             "occurred_at", "month", "attributes", "voided", "received_at",
             "updated_at")  # fmt: skip


# The binary COPY's column types. Attributes go as jsonb's binary form (see _jsonb), typed
# bytea so that psycopg's C dumper writes them: its jsonb dumper is a Python call per row.
_FACT_TYPES = ["text", "text", "int8", "int8", "int8", "numeric", "timestamptz", "date",
               "bytea", "bool", "timestamptz", "timestamptz"]  # fmt: skip

# One new fact: external_id, employee_id, metric_id, org_unit_id, value, occurred_at,
# month, attributes (a dict or None).
Insert = Callable[[str, int, int, int, Decimal, dt.datetime, dt.date, dict | None], None]


@contextmanager
def inserting(source: str, now: dt.datetime) -> Iterator[Insert]:
    """Takes new facts one by one. On PostgreSQL each goes out at once on a COPY, so the
    server stores a fact while the caller works out the next; SQLite gets them at the end."""
    table = connection.ops.quote_name(Fact._meta.db_table)
    columns = ", ".join(_INSERTED)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            binary = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
            with connection.wrap_database_errors, cursor.cursor.copy(binary) as copy:
                copy.set_types(_FACT_TYPES)
                write = copy.write_row

                def insert(external_id, employee, metric, unit, value, at, month, attributes):
                    write((source, external_id, employee, metric, unit, value, at, month,
                           _jsonb(attributes), False, now, now))  # fmt: skip

                yield insert
            return
        rows: list[tuple] = []
        stamp = _for_sqlite(now)

        def collect(external_id, employee, metric, unit, value, at, month, attributes):
            rows.append((source, external_id, employee, metric, unit, str(value),
                         _for_sqlite(at), month.isoformat(), _json(attributes), False, stamp,
                         stamp))  # fmt: skip

        yield collect
        if rows:
            marks = ", ".join(["%s"] * len(_INSERTED))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


_NO_ATTRIBUTES = b"\x01{}"


def _jsonb(attributes: dict | None) -> bytes:
    """jsonb's binary form: the format's version (1), then the text."""
    return b"\x01" + json.dumps(attributes).encode() if attributes else _NO_ATTRIBUTES


def update(rows: list[Row], now: dt.datetime) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(Fact._meta.db_table)
    adapt = _adapter()
    stamp = adapt(now)
    values = [
        (r.employee_id, r.metric_id, r.org_unit_id, adapt(r.value), adapt(r.occurred_at),
         adapt(r.month), _json(r.attributes), r.voided, r.id)
        for r in rows
    ]  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = [list(column) for column in zip(*values, strict=True)]
            cursor.execute(_UPDATE_POSTGRESQL.format(table=table), [now, *columns])
            return
        cursor.executemany(
            f"UPDATE {table} SET employee_id = %s, metric_id = %s, org_unit_id = %s, "  # noqa: S608
            "value = %s, occurred_at = %s, month = %s, attributes = %s, voided = %s, "
            "updated_at = %s WHERE id = %s",
            [(*row[:-1], stamp, row[-1]) for row in values],
        )


# One statement for all changed facts: each column travels as one array.
_UPDATE_POSTGRESQL = """
UPDATE {table} AS f SET employee_id = v.employee_id, metric_id = v.metric_id,
    org_unit_id = v.org_unit_id, value = v.value, occurred_at = v.occurred_at,
    month = v.month, attributes = v.attributes::jsonb, voided = v.voided, updated_at = %s
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::numeric[], %s::timestamptz[],
            %s::date[], %s::text[], %s::boolean[], %s::bigint[])
    AS v(employee_id, metric_id, org_unit_id, value, occurred_at, month, attributes, voided, id)
WHERE f.id = v.id
"""


@dataclass(slots=True)
class Delta:
    """What a batch changes in one actual (employee, metric, month, unit)."""

    total_e4: int = 0
    count: int = 0
    latest: tuple[dt.datetime, Decimal] | None = None
    lost_latest: bool = False  # a fact of a "latest" metric left the cell

    def matters(self) -> bool:
        return bool(self.total_e4 or self.count or self.latest or self.lost_latest)


_ACTUAL = ("employee_id", "metric_id", "month", "org_unit_id", "total_e4", "count",
           "latest_at", "latest_value", "updated_at")  # fmt: skip


@dataclass
class ActualChanges:
    """What a batch does to the actuals: a row for each cell it changes, ready for the
    upsert, and the cells whose latest value left them."""

    rows: list[tuple]
    lost_latest: list[tuple]


def actual_changes(deltas: dict[tuple, Delta], now: dt.datetime) -> ActualChanges:
    adapt = _adapter()
    stamp = adapt(now)
    changes = ActualChanges([], [])
    for cell, delta in deltas.items():
        if not delta.matters():
            continue
        employee, metric, month, unit = cell
        latest_at, latest_value = delta.latest or (None, None)
        changes.rows.append((employee, metric, adapt(month), unit, delta.total_e4, delta.count,
                             adapt(latest_at), adapt(latest_value), stamp))  # fmt: skip
        if delta.lost_latest:
            changes.lost_latest.append(cell)
    return changes


@contextmanager
def adding_to_actuals(changes: ActualChanges) -> Iterator[None]:
    """Adds each change to its actual, creating it when new. On PostgreSQL the upsert takes
    the cells in key order, so concurrent batches lock rows in one order and cannot
    deadlock; SQLite has one writer at a time.

    The caller's block runs while the server upserts (PostgreSQL's pipeline mode sends the
    statement without waiting for its end): work for it is Python's alone, as a query in
    it would wait for the upsert."""
    if changes.rows and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            _copy_deltas(cursor, changes.rows)
            # An error of the upsert surfaces as the pipeline ends, outside Django's cursor:
            # it is raised as Django's own (DataError, IntegrityError) all the same.
            with connection.wrap_database_errors, cursor.connection.pipeline():
                cursor.execute(_upsert_sql(0))
                yield
    else:
        if changes.rows:
            _upsert_values(changes.rows)
        yield
    for cell in changes.lost_latest:
        _recompute_latest(*cell)


def _copy_deltas(cursor, rows: list[tuple]) -> None:
    """Into a session's scratch table, for one upsert from it: cheaper than passing arrays,
    whose adaptation runs in Python."""
    cursor.execute(_DELTAS_TABLE)
    copying = cursor.cursor.copy(f"COPY {_DELTAS} FROM STDIN (FORMAT BINARY)")
    with connection.wrap_database_errors, copying as copy:
        copy.set_types(_DELTA_TYPES)
        for row in rows:
            copy.write_row(row)


def _upsert_values(rows: list[tuple]) -> None:
    per_statement = max(1, (connection.features.max_query_params or 999) // len(_ACTUAL))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(_upsert_sql(len(chunk)), [value for row in chunk for value in row])


# On PostgreSQL the rows travel by COPY through a temporary table of the session, emptied
# before each use; its rows are upserted in key order.
_DELTAS = "kaohe_actual_deltas"
_DELTA_TYPES = ["int8", "int8", "date", "int8", "int8", "int4", "timestamptz", "numeric",
                "timestamptz"]  # fmt: skip
_DELTAS_TABLE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_DELTAS} (employee_id bigint, metric_id bigint, "
    "month date, org_unit_id bigint, total_e4 bigint, count integer, latest_at timestamptz, "
    "latest_value numeric, updated_at timestamptz) ON COMMIT DELETE ROWS; "
    # Empty also inside a longer transaction (several batches in one, as in tests).
    f"TRUNCATE {_DELTAS}"
)
_FROM_DELTAS = f"SELECT * FROM {_DELTAS} ORDER BY employee_id, metric_id, month, org_unit_id"  # noqa: S608


def _upsert_sql(rows: int) -> str:
    """The upsert of `rows` rows of VALUES; of the COPY table (`_DELTAS`) when rows is 0."""
    q = connection.ops.quote_name
    table = q(Actual._meta.db_table)
    marks = "(" + ", ".join(["%s"] * len(_ACTUAL)) + ")"
    source = _FROM_DELTAS if rows == 0 else f"VALUES {', '.join([marks] * rows)}"
    newer = (
        f"excluded.latest_at IS NOT NULL AND "
        f"({table}.latest_at IS NULL OR excluded.latest_at >= {table}.latest_at)"
    )
    return (
        f"INSERT INTO {table} ({', '.join(map(q, _ACTUAL))}) {source} "
        "ON CONFLICT (employee_id, metric_id, month, org_unit_id) DO UPDATE SET "
        f"total_e4 = {table}.total_e4 + excluded.total_e4, "
        f'"count" = {table}."count" + excluded."count", '
        f"latest_value = CASE WHEN {newer} THEN excluded.latest_value "
        f"ELSE {table}.latest_value END, "
        f"latest_at = CASE WHEN {newer} THEN excluded.latest_at ELSE {table}.latest_at END, "
        "updated_at = excluded.updated_at"
    )


def _recompute_latest(employee_id: int, metric_id: int, month: dt.date, unit_id: int) -> None:
    """The cell's latest is its newest remaining fact, or none."""
    cell = {"employee_id": employee_id, "metric_id": metric_id, "month": month,
            "org_unit_id": unit_id}  # fmt: skip
    newest = (
        Fact.objects.filter(voided=False, **cell)
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", "value")
        .first()
    )
    latest_at, latest_value = newest or (None, None)
    Actual.objects.filter(**cell).update(latest_at=latest_at, latest_value=latest_value)


def _adapter():
    """How a value is passed to the database: PostgreSQL's driver adapts Python types
    itself; SQLite gets what Django's SQLite backend would write (naive UTC text times,
    ISO dates, decimal strings)."""
    if connection.vendor == "postgresql":
        return _same
    return _for_sqlite


def _same(value):
    return value


def _for_sqlite(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _json(attributes: dict) -> str:
    return json.dumps(attributes) if attributes else "{}"  # most facts carry none
