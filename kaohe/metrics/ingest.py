"""Taking in a batch of facts from a source: validate, upsert, keep actuals current.

One call is one transaction. Items are upserted by (source, external_id): the same record
again changes nothing, a changed one moves its contribution, `"void": true` withdraws it.
Every fault of an item is a rejection with its index, and the valid items still apply.
Actuals change by the delta of each fact, in integer ten-thousandths, so a retried or
repeated batch leaves every actual exactly as it was.

On PostgreSQL, batches of one source are serialised by an advisory lock, so two deliveries
of the same record cannot both insert it; SQLite's write lock does that by itself.
"""

import dataclasses
import datetime as dt
import functools
import gzip
import hashlib
import json
import zlib
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import encode_basestring
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.metrics import store
from kaohe.metrics.items import Item, Reject, Rejection, read_item
from kaohe.metrics.models import Aggregation, FactBatch, Metric
from kaohe.metrics.signals import facts_changed
from kaohe.org.evidence import record
from kaohe.org.models import Company, Employee

__all__ = ["MAX_ITEMS", "IngestError", "IngestResult", "Rejection", "ingest_facts", "ingest_stream"]

MAX_ITEMS = 10_000
SCALE = 10_000  # Actual.total_e4 counts ten-thousandths
ANNOUNCE_EVERY = 10  # chunks of a stream per `facts_changed` signal
_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
# How _dumps writes a string (json's own C function, without building an encoder per call).
_quoted = encode_basestring


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
    batch = _Batch(source, clock.now(), ZoneInfo(Company.get().timezone))
    batch.read(items)
    return batch.commit(actor, employees, channel)


def ingest_stream(
    source: str,
    chunks: Iterable[Sequence[Mapping]],
    actor,
    *,
    employees=None,
    channel: str = "file",
) -> Iterator[tuple[Sequence[Mapping], IngestResult]]:
    """`ingest_facts` over each chunk in turn, each its own transaction; yields every chunk
    with its result.

    Employees and their placements are read once for the whole stream (see _Directory).
    While the database commits a chunk, a helper thread takes the next one from `chunks`
    and checks its items (pure Python, no database). A commit is mostly the server's work
    (the facts' foreign-key checks, writing the log), so on a machine with two cores the
    two overlap. Only the commit: Python runs one thread at a time, and overlapping with
    statements that stream data to the server (COPY) would cost more than it saves. An
    IngestError of a chunk (too many items) is raised in its turn, after the chunks before.

    `facts_changed` is sent for everyone the committed chunks touched every ANNOUNCE_EVERY
    chunks and when the stream ends (also when it fails or is left half-way): a file
    touches the same people chunk after chunk, and a signal per chunk had the alerts
    re-evaluate them again and again (and cost the import some 5% of its time). A process
    killed mid-file, whose `finally` never runs, leaves at most the chunks since the last
    signal to the alerts' sweep.
    """
    language = translation.get_language()
    tz = ZoneInfo(Company.get().timezone)
    pending = iter(chunks)

    def prepare() -> tuple[Sequence[Mapping], _Batch] | None:
        with translation.override(language):  # rejections in the caller's language
            chunk = next(pending, None)
            if chunk is None:
                return None
            batch = _Batch(source, clock.now(), tz)
            batch.read(chunk)
            return chunk, batch

    directory = _Directory(employees)
    touched: set[int] = set()  # whose actuals the chunks committed since the last signal changed
    committed = 0
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="kaohe-ingest") as helper:
            upcoming: list[Future] = []  # the next chunk, being read while this one commits

            def read_next() -> None:
                upcoming.append(helper.submit(prepare))

            prepared = prepare()
            while prepared is not None:
                chunk, batch = prepared
                result = batch.commit(
                    actor, employees, channel, read_next, directory, announce=False
                )
                touched |= result.employees
                committed += 1
                if committed % ANNOUNCE_EVERY == 0:
                    _announce(touched)
                    touched = set()
                yield chunk, result
                prepared = upcoming.pop().result() if upcoming else prepare()
    finally:
        _announce(touched)


def _announce(employees: set[int]) -> None:
    """Tells the listeners (the alerts) whose actuals changed, once the change is committed."""
    if employees:
        ids = sorted(employees)
        transaction.on_commit(
            lambda: facts_changed.send(sender=_Batch, employee_ids=ids), robust=True
        )


def _content(item: Item) -> str:
    """The item's part of the change list (see `evidence`): what
    `_dumps([employee, metric, value, occurred_at, attributes])[1:-1]` gives, written
    without an encoder per item."""
    attributes = _dumps(item.attributes) if item.attributes else "{}"
    return (
        f'{_quoted(item.employee)},{_quoted(item.metric)},"{item.value}",'
        f'"{item.occurred_at.isoformat()}",{attributes}'
    )


def _lock_source(source: str) -> None:
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"kaohe.facts:{source}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


class _Placed(NamedTuple):
    """Where an employee stood: the start days of their placements and the unit of each.

    Tuples, which the garbage collector stops tracking once it sees they hold only dates and
    numbers: a stream keeps one for every employee it met, and as lists they were traversed
    by every full collection."""

    starts: tuple[dt.date, ...]
    units: tuple[int, ...]
    current_unit: int

    def unit_on(self, day: dt.date) -> int:
        at = bisect_right(self.starts, day) - 1
        if at < 0:  # before the first recorded placement: the earliest unit known
            return self.units[0] if self.units else self.current_unit
        return self.units[at]


class _Batch:
    def __init__(self, source: str, now: dt.datetime, tz: ZoneInfo) -> None:
        self.source = source
        self.now = now
        self.tz = tz
        self.result = IngestResult()
        self.items: list[Item] = []
        self.changes: list[tuple] = []  # (action, item, previous row): what the entry covers
        self.deltas: dict[tuple[int, int, dt.date, int], store.Delta] = defaultdict(store.Delta)

    # --- reading and resolving, outside the transaction -------------------------------

    def read(self, raw_items: Sequence[Mapping]) -> None:
        """Checks every item; needs no database."""
        if not isinstance(raw_items, Sequence) or isinstance(raw_items, str | bytes):
            raise IngestError(_("Send the items as a JSON array."))
        if len(raw_items) > MAX_ITEMS:
            raise IngestError(
                _("Send at most %(max)s items per batch; this one has %(count)s.")
                % {"max": MAX_ITEMS, "count": len(raw_items)}
            )
        seen: dict[str, list[int]] = defaultdict(list)
        tz = self.tz
        for index, raw in enumerate(raw_items):
            try:
                item = read_item(index, raw, self.now)
            except Reject as fault:
                self.reject(index, fault.field, fault.code, fault.message)
                continue
            if not item.void:
                local = item.occurred_at.astimezone(tz)
                item.day, item.month = local.date(), dt.date(local.year, local.month, 1)
                item.content = _content(item)
            seen[item.external_id].append(len(self.items))
            self.items.append(item)
        self._reject_duplicates(seen)
        named = [item for item in self.items if not item.void]
        self.employee_numbers = {item.employee for item in named}
        self.metric_codes = {item.metric for item in named}

    def commit(
        self, actor, employees, channel: str, before_commit=None, directory=None, announce=True
    ) -> IngestResult:
        """Resolves the checked items and applies them in one transaction; calls
        `before_commit` as the last thing before committing (see ingest_stream), and
        sends `facts_changed` after the commit unless `announce` is false."""
        self.resolve(employees, directory)
        with transaction.atomic():
            _lock_source(self.source)
            self.apply()
            names = self._names() if self.changes else None
            with store.adding_to_actuals(self.actual_changes):
                # The change list is written while the server adds the deltas.
                if names is not None:
                    changes, payload = self.evidence(channel, names)
                    packed = gzip.compress(changes, compresslevel=6, mtime=0)
            if names is not None:
                entry = record("metrics.facts.ingested", actor, payload, source=self.source)
                FactBatch.objects.create(
                    source=self.source,
                    channel=channel,
                    received_at=self.now,
                    entry_index=entry.index,
                    counts=self.result.counts(),
                    changes_sha256=payload["changes_sha256"],
                    changes=packed,
                )
            if announce:
                _announce(self.result.employees)
            if before_commit is not None:
                before_commit()
        self.result.rejected.sort(key=lambda rejection: rejection.index)
        return self.result

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

    def resolve(self, employees, directory: "_Directory | None" = None) -> None:
        self.allowed = employees
        self.directory = directory = directory or _Directory(employees)
        self.employee_ids = ids = directory.employees(self.employee_numbers)
        self.placed = directory.placed
        codes = self.metric_codes
        self.metrics = {m.code: m for m in Metric.objects.filter(code__in=codes, active=True)}
        self.metric_ids = {code: metric.pk for code, metric in self.metrics.items()}
        # Voids and moves may touch metrics the batch does not name; "latest" ones are few.
        latest = Metric.objects.filter(aggregation=Aggregation.LATEST)
        self.latest_ids = set(latest.values_list("pk", flat=True))
        faults = {code: self._metric_fault(self.metrics.get(code)) for code in codes}
        kept = []
        for item in self.items:
            if item.void:
                kept.append(item)
            elif item.employee not in ids:
                self.reject(item.index, "employee", "unknown", _("There is no such employee."))
            elif fault := faults[item.metric]:
                self.reject(item.index, "metric", *fault)
            else:
                kept.append(item)
        self.items = kept

    def _metric_fault(self, metric: Metric | None) -> tuple[str, str] | None:
        """Why this source may send no facts of `metric`: (code, message); None if it may."""
        if metric is None:
            return "unknown", _("There is no such metric.")
        if metric.aggregation == Aggregation.RATIO:
            message = _("This metric is a ratio; send facts of its numerator and denominator.")
            return "ratio", message
        if metric.sources and self.source not in metric.sources:
            return "source_not_allowed", _("This source may not send facts of this metric.")
        return None

    # --- applying, inside the transaction ---------------------------------------------

    def apply(self) -> None:
        stored = store.existing(self.source, [item.external_id for item in self.items])
        changed: list[store.Row] = []
        self._keep_within_reach(stored)
        with store.inserting(self.source, self.now) as insert:
            for item in self.items:
                row = stored.get(item.external_id)
                if item.index in self.out_of_reach:
                    continue
                if item.void:
                    self._void(item, row, changed)
                elif row is None:
                    self._create(item, insert)
                else:
                    self._update(item, row, changed)
            # Worked out while the server stores the last of the new facts.
            self.actual_changes = store.actual_changes(self.deltas, self.now)
        store.update(changed, self.now)
        self.result.newest_occurred_at = max(
            (i.occurred_at for i in self.items if not i.void and i.index not in self.out_of_reach),
            default=None,
        )

    def _keep_within_reach(self, stored: dict[str, store.Row]) -> None:
        """A caller limited to some employees (an API key's org units) may neither void nor
        change a record about anyone else, and a void learns no more than for an unknown
        id."""
        self.out_of_reach: set[int] = set()
        if self.allowed is None:
            return
        named = set(self.employee_ids.values())  # met within reach already
        owners = {row.employee_id for row in stored.values()} - named
        reachable = named | set(self.allowed.filter(pk__in=owners).values_list("pk", flat=True))
        for item in self.items:
            row = stored.get(item.external_id)
            if row is None or row.employee_id in reachable:
                continue
            self.out_of_reach.add(item.index)
            if item.void:
                message = _("No record with this external_id was received from this source.")
                self.reject(item.index, "external_id", "unknown", message)
            else:
                message = _("This external_id is taken by a record you may not change.")
                self.reject(item.index, "external_id", "out_of_reach", message)

    def _create(self, item: Item, insert: store.Insert) -> None:
        employee_id = self.employee_ids[item.employee]
        metric_id = self.metric_ids[item.metric]
        unit_id = self.placed[employee_id].unit_on(item.day)
        insert(item.external_id, employee_id, metric_id, unit_id, item.value, item.occurred_at,
               item.month, item.attributes)  # fmt: skip
        self._count((employee_id, metric_id, item.month, unit_id), item.value, item.occurred_at)
        self.result.created += 1
        self.changes.append(("created", item, None))

    def _update(self, item: Item, row: store.Row, changed: list[store.Row]) -> None:
        wanted = self._row(item, row.id)
        if _same(row, wanted) and not (row.voided and item.revive):
            self.result.unchanged += 1  # a repeat of the record as it was; a void stays
            return
        if not row.voided:
            self._withdraw(row)
        self._count(wanted.cell, wanted.value, wanted.occurred_at)
        changed.append(wanted)
        self.result.updated += 1
        self.changes.append(("updated", item, row))

    def _void(self, item: Item, row: store.Row | None, changed: list[store.Row]) -> None:
        if row is None:
            message = _("No record with this external_id was received from this source.")
            self.reject(item.index, "external_id", "unknown", message)
            return
        if row.voided:
            self.result.unchanged += 1
            return
        self._withdraw(row)
        self.changes.append(("voided", item, dataclasses.replace(row)))
        row.voided = True
        changed.append(row)
        self.result.voided += 1

    def _row(self, item: Item, row_id: int) -> store.Row:
        """What the stored fact `row_id` becomes when `item` changes it."""
        employee_id = self.employee_ids[item.employee]
        return store.Row(row_id, item.external_id, employee_id, self.metric_ids[item.metric],
                         self.placed[employee_id].unit_on(item.day), item.value,
                         item.occurred_at, item.month, item.attributes or {}, False)  # fmt: skip

    def _count(self, cell: tuple, value: Decimal, occurred_at: dt.datetime, sign: int = 1) -> None:
        """Adds (+1) or withdraws (-1) a fact's contribution to its actual."""
        delta = self.deltas[cell]
        delta.total_e4 += sign * int(value * SCALE)
        delta.count += sign
        if cell[1] in self.latest_ids:
            if sign > 0 and (delta.latest is None or occurred_at >= delta.latest[0]):
                delta.latest = (occurred_at, value)
            elif sign < 0:
                delta.lost_latest = True
        self.result.employees.add(cell[0])

    def _withdraw(self, row: store.Row) -> None:
        self._count(row.cell, row.value, row.occurred_at, -1)

    def evidence(self, channel: str, names: tuple[dict, dict]) -> tuple[bytes, dict]:
        """The JSON of every change (the bytes FactBatch keeps) and the ledger payload that
        names their SHA-256; `names` are the employee numbers and metric codes by id."""
        numbers, codes = names

        def state(row: store.Row) -> list:
            return [numbers[row.employee_id], codes[row.metric_id], str(row.value),
                    row.occurred_at.isoformat(), row.attributes, row.voided]  # fmt: skip

        # [external_id, action, employee, metric, value, occurred_at, attributes, previous]
        # as compact JSON, put together from the parts `read` made.
        listed = []
        for action, item, was in self.changes:
            parts = [f'[{_quoted(item.external_id)},"{action}"']
            if action != "voided":
                parts.append(item.content)
            if was is not None:
                parts.append(_dumps(state(was)))
            listed.append(",".join(parts) + "]")
        changes = ("[" + ",".join(listed) + "]").encode()
        payload = {
            "source": self.source,
            "channel": channel,
            **self.result.counts(),
            "changes_sha256": hashlib.sha256(changes).hexdigest(),
        }
        return changes, payload

    def _names(self) -> tuple[dict[int, str], dict[int, str]]:
        """Employee numbers and metric codes of the records changed, by id."""
        earlier = [was for _action, _item, was in self.changes if was is not None]
        known = self.directory.numbers
        numbers = {row.employee_id: known[row.employee_id] for row in earlier
                   if row.employee_id in known}  # fmt: skip
        missing = {row.employee_id for row in earlier} - set(numbers)
        if missing:
            numbers.update(Employee.objects.filter(pk__in=missing).values_list("pk", "employee_no"))
        codes = {metric.pk: code for code, metric in self.metrics.items()}
        if {row.metric_id for row in earlier} - set(codes):
            codes = dict(Metric.objects.values_list("pk", "code"))
        return numbers, codes


class _Directory:
    """Employee ids, current units and placements, read once per stream: the chunks of a
    file are attributed to the org as it stood when its import began (a transfer recorded
    during the import applies to the next one). A single batch reads afresh."""

    def __init__(self, allowed) -> None:
        self.allowed = allowed
        self.ids: dict[str, int] = {}
        self.numbers: dict[int, str] = {}  # the other way round
        self.unknown: set[str] = set()
        self.placed: dict[int, _Placed] = {}

    def employees(self, numbers: set[str]) -> dict[str, int]:
        """The ids by number of the employees met so far that exist (within `allowed`):
        those first named here are read, with their placements."""
        missing = numbers - self.ids.keys() - self.unknown
        if missing:
            ids, units = _employee_ids(missing, self.allowed)
            self.ids.update(ids)
            self.numbers.update((pk, number) for number, pk in ids.items())
            self.placed.update(_placements(units))
            self.unknown |= missing - ids.keys()
        return self.ids


def _employee_ids(numbers: set[str], allowed) -> tuple[dict[str, int], dict[int, int]]:
    """The ids of the employees named (within `allowed`), and each one's current unit."""
    query = allowed if allowed is not None else Employee.objects.all()
    ids: dict[str, int] = {}
    units: dict[int, int] = {}
    listed = sorted(numbers)
    for start in range(0, len(listed), store.QUERY_CHUNK):
        chunk = listed[start : start + store.QUERY_CHUNK]
        rows = query.filter(employee_no__in=chunk).values_list("employee_no", "pk", "org_unit_id")
        for number, pk, unit in rows:
            ids[number], units[pk] = pk, unit
    return ids, units


def _placements(units: dict[int, int]) -> dict[int, _Placed]:
    found: dict[int, list[tuple[dt.date, int]]] = {pk: [] for pk in units}
    for pk, valid_from, unit in store.placements(sorted(units)):
        found[pk].append((valid_from, unit))
    return {pk: _Placed(*_columns(found[pk]), units[pk]) for pk in units}


def _columns(placements: list[tuple[dt.date, int]]) -> tuple[tuple, tuple]:
    """(start days, units) of an employee's placements, in order."""
    if not placements:
        return (), ()
    starts, units = zip(*placements, strict=True)
    return starts, units


def _same(stored: store.Row, wanted: store.Row) -> bool:
    return (
        stored.employee_id == wanted.employee_id
        and stored.metric_id == wanted.metric_id
        and stored.org_unit_id == wanted.org_unit_id
        and stored.value == wanted.value
        and stored.occurred_at == wanted.occurred_at
        and (stored.attributes or {}) == wanted.attributes
    )
