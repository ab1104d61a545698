"""Taking in a batch of facts from a source: validate, upsert, keep actuals current.

One call is one transaction. Items are upserted by (source, external_id): the same record
again changes nothing, a changed one moves its contribution, `"void": true` withdraws it.
Every fault of an item is a rejection with its index, and the valid items still apply.
Actuals change by the delta of each fact, in integer ten-thousandths, so a retried or
repeated batch leaves every actual exactly as it was.

On PostgreSQL, batches of one source are serialised by an advisory lock, so two deliveries
of the same record cannot both insert it; SQLite's write lock does that by itself.
"""

import datetime as dt
import hashlib
import json
import zlib
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.lib.periods import month_of
from kaohe.metrics.items import Item, Reject, Rejection, read_item
from kaohe.metrics.models import Actual, Aggregation, Fact, Metric
from kaohe.org.evidence import record
from kaohe.org.models import Company, Employee, Placement

__all__ = ["MAX_ITEMS", "IngestError", "IngestResult", "Rejection", "ingest_facts"]

MAX_ITEMS = 10_000
SCALE = 10_000  # Actual.total_e4 counts ten-thousandths
QUERY_CHUNK = 2_000  # ids per IN (...) list, well inside SQLite's variable limit


class IngestError(ValueError):
    """The batch as a whole cannot be taken (too many items, not a list)."""


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    voided: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    employees: set[int] = field(default_factory=set)  # whose actuals changed
    newest_occurred_at: dt.datetime | None = None

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "voided": self.voided,
            "rejected": len(self.rejected),
        }

    def add(self, other: "IngestResult", index_offset: int = 0) -> None:
        """Adds a later chunk's result (a file is taken in chunks)."""
        for name in ("created", "updated", "unchanged", "voided"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += [
            Rejection(r.index + index_offset, r.field, r.code, r.message) for r in other.rejected
        ]
        self.employees |= other.employees
        if other.newest_occurred_at and (
            self.newest_occurred_at is None or other.newest_occurred_at > self.newest_occurred_at
        ):
            self.newest_occurred_at = other.newest_occurred_at


def ingest_facts(
    source: str,
    items: Sequence[Mapping],
    actor,
    *,
    employees=None,
    channel: str = "api",
) -> IngestResult:
    """Applies a batch of fact items from `source`; see the module docstring.

    `employees` limits whom the caller may send facts about (an API key's org units); an
    employee outside it is rejected exactly like an unknown one.
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise IngestError(_("Send the items as a JSON array."))
    if len(items) > MAX_ITEMS:
        raise IngestError(
            _("Send at most %(max)s items per batch; this one has %(count)s.")
            % {"max": MAX_ITEMS, "count": len(items)}
        )
    batch = _Batch(source, clock.now())
    batch.read(items)
    batch.resolve(employees)
    with transaction.atomic():
        _lock_source(source)
        batch.apply()
        if batch.changes:
            record(
                "metrics.facts.ingested",
                actor,
                batch.evidence(channel),
                source=source,
            )
    batch.result.rejected.sort(key=lambda rejection: rejection.index)
    return batch.result


def _lock_source(source: str) -> None:
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"kaohe.facts:{source}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


@dataclass
class _Placed:
    """Where an employee stood: the start days of their placements and the unit of each."""

    starts: list[dt.date]
    units: list[int]
    current_unit: int

    def unit_on(self, day: dt.date) -> int:
        at = bisect_right(self.starts, day) - 1
        if at < 0:  # before the first recorded placement: the earliest unit known
            return self.units[0] if self.units else self.current_unit
        return self.units[at]


@dataclass
class _Cell:
    delta_e4: int = 0
    delta_count: int = 0
    latest: tuple[dt.datetime, Decimal] | None = None
    lost_latest: bool = False  # a fact of a "latest" metric left this cell


class _Batch:
    def __init__(self, source: str, now: dt.datetime) -> None:
        self.source = source
        self.now = now
        self.tz = ZoneInfo(Company.get().timezone)
        self.result = IngestResult()
        self.items: list[Item] = []
        self.changes: list[list] = []  # what the ledger entry's digest covers
        self.cells: dict[tuple[int, int, dt.date, int], _Cell] = defaultdict(_Cell)

    # --- reading and resolving, outside the transaction -------------------------------

    def read(self, raw_items: Sequence[Mapping]) -> None:
        seen: dict[str, list[int]] = defaultdict(list)
        for index, raw in enumerate(raw_items):
            try:
                item = read_item(index, raw, self.now)
            except Reject as fault:
                self.reject(index, fault.field, fault.code, fault.message)
                continue
            seen[item.external_id].append(len(self.items))
            self.items.append(item)
        self._reject_duplicates(seen)

    def _reject_duplicates(self, seen: dict[str, list[int]]) -> None:
        twice = {pos for positions in seen.values() if len(positions) > 1 for pos in positions}
        if not twice:
            return
        for pos in sorted(twice):
            item = self.items[pos]
            others = [self.items[p].index for p in seen[item.external_id] if p != pos]
            message = _(
                "The same external_id appears more than once in this batch (also at %(others)s)."
            ) % {"others": ", ".join(map(str, others))}
            self.reject(item.index, "external_id", "duplicate", message)
        self.items = [item for pos, item in enumerate(self.items) if pos not in twice]

    def reject(self, index: int, field_name: str, code: str, message: str) -> None:
        self.result.rejected.append(Rejection(index, field_name, code, str(message)))

    def resolve(self, employees) -> None:
        numbers = {item.employee for item in self.items if not item.void}
        codes = {item.metric for item in self.items if not item.void}
        self.employee_ids = _employee_ids(numbers, employees)
        self.metrics = {m.code: m for m in Metric.objects.filter(code__in=codes, active=True)}
        # Voids and moves may touch metrics the batch does not name; "latest" ones are few.
        latest = Metric.objects.filter(aggregation=Aggregation.LATEST)
        self.latest_ids = set(latest.values_list("pk", flat=True))
        kept = []
        for item in self.items:
            if item.void or self._known(item):
                kept.append(item)
        self.items = kept
        self.placed = _placements({self.employee_ids[i.employee] for i in kept if not i.void})

    def _known(self, item: Item) -> bool:
        if item.employee not in self.employee_ids:
            self.reject(item.index, "employee", "unknown", _("There is no such employee."))
            return False
        metric = self.metrics.get(item.metric)
        if metric is None:
            self.reject(item.index, "metric", "unknown", _("There is no such metric."))
            return False
        if metric.aggregation == Aggregation.RATIO:
            message = _("This metric is a ratio; send facts of its numerator and denominator.")
            self.reject(item.index, "metric", "ratio", message)
            return False
        if metric.sources and self.source not in metric.sources:
            message = _("This source may not send facts of this metric.")
            self.reject(item.index, "metric", "source_not_allowed", message)
            return False
        return True

    # --- applying, inside the transaction ---------------------------------------------

    def apply(self) -> None:
        existing = _existing(self.source, [item.external_id for item in self.items])
        new, changed = [], []
        for item in self.items:
            fact = existing.get(item.external_id)
            if item.void:
                self._void(item, fact, changed)
            elif fact is None:
                new.append(self._create(item))
            else:
                self._update(item, fact, changed)
        if new:
            Fact.objects.bulk_create(new, batch_size=1000)
        if changed:
            Fact.objects.bulk_update(
                changed,
                ["employee", "metric", "org_unit", "value", "occurred_at", "month",
                 "attributes", "voided", "updated_at"],
                batch_size=1000,
            )  # fmt: skip
        self._write_actuals()

    def _create(self, item: Item) -> Fact:
        fact = Fact(source=self.source, external_id=item.external_id, received_at=self.now)
        self._fill(fact, item)
        self._count(fact, +1)
        self.result.created += 1
        self._note(item, "created")
        return fact

    def _update(self, item: Item, fact: Fact, changed: list[Fact]) -> None:
        employee_id = self.employee_ids[item.employee]
        metric = self.metrics[item.metric]
        unit = self.placed[employee_id].unit_on(self._local_day(item.occurred_at))
        if (
            not fact.voided
            and fact.employee_id == employee_id
            and fact.metric_id == metric.pk
            and fact.org_unit_id == unit
            and fact.value == item.value
            and fact.occurred_at == item.occurred_at
            and (fact.attributes or {}) == (item.attributes or {})
        ):
            self.result.unchanged += 1
            return
        if not fact.voided:
            self._count(fact, -1)
        self._fill(fact, item)
        fact.voided = False
        self._count(fact, +1)
        changed.append(fact)
        self.result.updated += 1
        self._note(item, "updated")

    def _void(self, item: Item, fact: Fact | None, changed: list[Fact]) -> None:
        if fact is None:
            message = _("No record with this external_id was received from this source.")
            self.reject(item.index, "external_id", "unknown", message)
            return
        if fact.voided:
            self.result.unchanged += 1
            return
        self._count(fact, -1)
        fact.voided, fact.updated_at = True, self.now
        changed.append(fact)
        self.result.voided += 1
        self.changes.append([item.external_id, "voided"])

    def _fill(self, fact: Fact, item: Item) -> None:
        fact.employee_id = self.employee_ids[item.employee]
        fact.metric_id = self.metrics[item.metric].pk
        fact.org_unit_id = self.placed[fact.employee_id].unit_on(self._local_day(item.occurred_at))
        fact.value = item.value
        fact.occurred_at = item.occurred_at
        fact.month = month_of(item.occurred_at, self.tz)
        fact.attributes = item.attributes or {}
        fact.updated_at = self.now
        newest = self.result.newest_occurred_at
        if newest is None or item.occurred_at > newest:
            self.result.newest_occurred_at = item.occurred_at

    def _local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def _count(self, fact: Fact, sign: int) -> None:
        """Adds (+1) or withdraws (-1) the fact's contribution to its actual."""
        cell = self.cells[(fact.employee_id, fact.metric_id, fact.month, fact.org_unit_id)]
        cell.delta_e4 += sign * int(fact.value * SCALE)
        cell.delta_count += sign
        if fact.metric_id in self.latest_ids:
            if sign > 0 and (cell.latest is None or fact.occurred_at >= cell.latest[0]):
                cell.latest = (fact.occurred_at, fact.value)
            elif sign < 0:
                cell.lost_latest = True
        self.result.employees.add(fact.employee_id)

    def _note(self, item: Item, action: str) -> None:
        self.changes.append([
            item.external_id, action, item.employee, item.metric, str(item.value),
            item.occurred_at.isoformat(), item.attributes or {},
        ])  # fmt: skip

    def _write_actuals(self) -> None:
        cells = {key: cell for key, cell in self.cells.items() if _matters(cell)}
        if not cells:
            return
        rows = [
            [*key, cell.delta_e4, cell.delta_count, *(cell.latest or (None, None)), self.now]
            for key, cell in sorted(cells.items())  # one lock order for concurrent batches
        ]
        per_statement = max(1, (connection.features.max_query_params or 65535) // len(_COLUMNS))
        with connection.cursor() as cursor:
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                cursor.execute(_upsert_sql(len(chunk)), _upsert_params(chunk))
        lost = [key for key, cell in cells.items() if cell.lost_latest]
        for key in lost:
            _recompute_latest(*key)

    def evidence(self, channel: str) -> dict:
        digest = hashlib.sha256(
            json.dumps(self.changes, ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest()
        return {
            "source": self.source,
            "channel": channel,
            **self.result.counts(),
            "changes_sha256": digest,
        }


def _matters(cell: _Cell) -> bool:
    return bool(cell.delta_e4 or cell.delta_count or cell.latest or cell.lost_latest)


def _employee_ids(numbers: set[str], allowed) -> dict[str, int]:
    query = allowed if allowed is not None else Employee.objects.all()
    found: dict[str, int] = {}
    listed = sorted(numbers)
    for start in range(0, len(listed), QUERY_CHUNK):
        chunk = listed[start : start + QUERY_CHUNK]
        found.update(query.filter(employee_no__in=chunk).values_list("employee_no", "pk"))
    return found


def _placements(employee_ids: set[int]) -> dict[int, _Placed]:
    placed: dict[int, _Placed] = {}
    listed = sorted(employee_ids)
    for start in range(0, len(listed), QUERY_CHUNK):
        chunk = listed[start : start + QUERY_CHUNK]
        for pk, unit in Employee.objects.filter(pk__in=chunk).values_list("pk", "org_unit_id"):
            placed[pk] = _Placed([], [], unit)
        rows = (
            Placement.objects.filter(employee_id__in=chunk)
            .order_by("employee_id", "valid_from")
            .values_list("employee_id", "valid_from", "org_unit_id")
        )
        for pk, valid_from, unit in rows:
            placed[pk].starts.append(valid_from)
            placed[pk].units.append(unit)
    return placed


def _existing(source: str, external_ids: list[str]) -> dict[str, Fact]:
    found: dict[str, Fact] = {}
    for start in range(0, len(external_ids), QUERY_CHUNK):
        chunk = external_ids[start : start + QUERY_CHUNK]
        for fact in Fact.objects.filter(source=source, external_id__in=chunk):
            found[fact.external_id] = fact
    return found


_COLUMNS = (
    "employee_id", "metric_id", "month", "org_unit_id", "total_e4", "count",
    "latest_at", "latest_value", "updated_at",
)  # fmt: skip


def _upsert_sql(rows: int) -> str:
    q = connection.ops.quote_name
    table = q(Actual._meta.db_table)
    marks = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    columns = ", ".join(map(q, _COLUMNS))
    return (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([marks] * rows)} "  # noqa: S608
        "ON CONFLICT (employee_id, metric_id, month, org_unit_id) DO UPDATE SET "
        f"total_e4 = {table}.total_e4 + excluded.total_e4, "
        f'"count" = {table}."count" + excluded."count", '
        "latest_value = CASE WHEN excluded.latest_at IS NOT NULL AND "
        f"({table}.latest_at IS NULL OR excluded.latest_at >= {table}.latest_at) "
        f"THEN excluded.latest_value ELSE {table}.latest_value END, "
        "latest_at = CASE WHEN excluded.latest_at IS NOT NULL AND "
        f"({table}.latest_at IS NULL OR excluded.latest_at >= {table}.latest_at) "
        f"THEN excluded.latest_at ELSE {table}.latest_at END, "
        "updated_at = excluded.updated_at"
    )


def _upsert_params(rows: list[list]) -> list:
    fields = [Actual._meta.get_field(name) for name in _COLUMNS]
    return [
        f.get_db_prep_save(value, connection)
        for row in rows
        for f, value in zip(fields, row, strict=True)
    ]


def _recompute_latest(employee_id: int, metric_id: int, month: dt.date, unit_id: int) -> None:
    """A fact of a "latest" metric was voided or moved: the cell's latest is its newest
    remaining fact (or none)."""
    newest = (
        Fact.objects.filter(
            employee_id=employee_id,
            metric_id=metric_id,
            month=month,
            org_unit_id=unit_id,
            voided=False,
        )
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", "value")
        .first()
    )
    latest_at, latest_value = newest or (None, None)
    Actual.objects.filter(
        employee_id=employee_id, metric_id=metric_id, month=month, org_unit_id=unit_id
    ).update(latest_at=latest_at, latest_value=latest_value)
