"""Facts in spreadsheets: a CSV or XLSX file of records from one source, through the HR
console or `kaohe import facts FILE --source S`.

Unlike the people import, a fact file is not all or nothing: it is read as a stream and
applied chunk by chunk (at most MAX_ITEMS rows, each chunk one transaction of
`ingest_stream`, which reads the next chunk while the database commits the current one), so
a file of a million rows needs no more memory than two chunks and the
rows that are right are applied whatever the others hold. The upsert is by (source,
external id), as in the API, so running the same file again (after fixing the rejected
rows, or after an interruption) changes nothing that was already applied.

Within one file the first row with an external id counts; a later row with the same id
is rejected and names the first (whichever chunk it falls in).
"""

import csv
import datetime as dt
import hashlib
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils.translation import gettext as _

from kaohe.integrations.models import Channel, Delivery, Source
from kaohe.integrations.sync import record_delivery
from kaohe.lib import tabular
from kaohe.lib.tabular import DATE_PATTERN, cell_text, neutralise, plain_text
from kaohe.metrics.ingest import MAX_ITEMS, IngestResult, ingest_stream
from kaohe.metrics.items import Rejection
from kaohe.org.evidence import record
from kaohe.org.models import Company
from kaohe.org.people_io import RowError


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    aliases: tuple[str, ...] = ()
    required: bool = True


COLUMNS = (
    Column("external_id", "外部编号", ("external id", "记录编号", "单据编号", "业务编号")),
    Column("employee", "员工编号", ("employee no", "employee number", "工号", "员工工号")),
    Column("metric", "指标", ("指标编码", "指标代码", "metric code")),
    Column("value", "数值", ("值", "数量", "金额")),
    Column("occurred_at", "发生时间", ("occurred at", "发生日期", "日期", "时间")),
    Column("void", "作废", ("voided", "是否作废"), required=False),
)
COLUMN_KEYS = [column.key for column in COLUMNS]
# Further columns named "attr.<name>" (or "属性.<name>") become the record's attributes.
ATTRIBUTE_PREFIXES = ("attr.", "属性.", "属性．")
MAX_ATTRIBUTE_NAME = 50
# Without a void column a file must carry everything; with one, void rows need only ids.
NEEDED_FOR_RECORDS = ("employee", "metric", "value", "occurred_at")

VOID_WORDS = {
    "true": True, "yes": True, "y": True, "1": True, "void": True, "x": True,
    "是": True, "作废": True, "已作废": True, "√": True, "✓": True,
    "false": False, "no": False, "n": False, "0": False, "否": False, "": False,
}  # fmt: skip
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


# --- results --------------------------------------------------------------------------


@dataclass
class FactImportResult:
    """What a fact file did: counts over all chunks, and every rejected row."""

    source: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    voided: int = 0
    errors: list[RowError] = field(default_factory=list)
    employees: set[int] = field(default_factory=set)  # whose actuals changed
    newest_occurred_at: dt.datetime | None = None
    file_error: bool = False  # the file as a whole was refused: nothing was applied

    @property
    def rejected(self) -> int:
        """Rejected rows (a row is rejected for its first fault)."""
        return len({error.row for error in self.errors if error.row is not None})

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "voided": self.voided,
            "rejected": self.rejected,
        }

    def add(self, chunk: IngestResult) -> None:
        for name in ("created", "updated", "unchanged", "voided"):
            setattr(self, name, getattr(self, name) + getattr(chunk, name))
        self.employees |= chunk.employees
        newest = chunk.newest_occurred_at
        if newest and (self.newest_occurred_at is None or newest > self.newest_occurred_at):
            self.newest_occurred_at = newest


class _ForTheLog:
    """The shape `record_delivery` reads, with rows in place of batch indexes."""

    def __init__(self, result: FactImportResult) -> None:
        self.counts = result.counts
        self.newest_occurred_at = result.newest_occurred_at
        self.rejected = [
            Rejection(error.row or 0, error.column, "rejected", error.message)
            for error in result.errors
        ]


# --- the header -----------------------------------------------------------------------


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


HEADER_KEYS = {
    _header_key(name): column.key
    for column in COLUMNS
    for name in (column.key, column.zh, *column.aliases)
}


@dataclass
class Layout:
    """Which cell holds which column, as the file labels it."""

    positions: dict[str, int]
    labels: dict[str, str]
    attributes: dict[str, int]  # attribute name -> cell
    attribute_labels: dict[str, str]

    @property
    def width(self) -> int:
        return max([*self.positions.values(), *self.attributes.values()]) + 1

    def label(self, field_name: str) -> str:
        """The file's header for an item field as ingest names it ("attributes.region")."""
        if field_name.startswith("attributes."):
            name = field_name.removeprefix("attributes.")
            return self.attribute_labels.get(name, field_name)
        if field_name == "attributes":
            return ", ".join(self.attribute_labels.values())
        return self.labels.get(field_name, field_name)


def read_layout(header: list[str]) -> tuple[Layout, list[RowError]]:
    layout = Layout({}, {}, {}, {})
    errors = []
    for index, text in enumerate(header):
        name = _attribute_name(text)
        key = HEADER_KEYS.get(_header_key(text))
        if name is not None:
            target, labels, key = layout.attributes, layout.attribute_labels, name
        elif key is not None:
            target, labels = layout.positions, layout.labels
        else:
            continue  # other columns are allowed and ignored
        if key in target:
            errors.append(RowError(None, text, _("This column appears more than once.")))
            continue
        target[key], labels[key] = index, text
    needed = [c for c in COLUMNS if c.required]
    if "void" in layout.positions:
        needed = [c for c in needed if c.key not in NEEDED_FOR_RECORDS]
    for column in needed:
        if column.key not in layout.positions:
            message = _("The required column %(key)s (%(zh)s) is missing.")
            values = {"key": column.key, "zh": column.zh}
            errors.append(RowError(None, column.key, message % values))
    return layout, errors


def _attribute_name(text: str) -> str | None:
    stripped = text.strip()
    for prefix in ATTRIBUTE_PREFIXES:
        if stripped.lower().startswith(prefix):
            name = stripped[len(prefix) :].strip()
            return name[:MAX_ATTRIBUTE_NAME] if name else None
    return None


# --- rows to items --------------------------------------------------------------------


class CellFault(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class RowReader:
    """Turns a row's cells into a fact item as the API takes it.

    Cells are passed on as text and left to `ingest_facts` to judge, except what only a
    spreadsheet has: real date cells, times without an offset (read in the company's
    timezone), numbers with thousands separators, and the yes/no words of the void column.
    """

    def __init__(self, layout: Layout, tz: ZoneInfo) -> None:
        self.layout = layout
        self.tz = tz

    def item(self, cells: tuple) -> dict:
        cells = cells + (None,) * (self.layout.width - len(cells))
        at = self.layout.positions
        item: dict[str, Any] = {"external_id": plain_text(cells[at["external_id"]])}
        if "void" in at and self._void(cells[at["void"]]):
            item["void"] = True
            return item
        for key in ("employee", "metric"):
            item[key] = plain_text(cells[at[key]]) if key in at else None
        item["value"] = _value(cells[at["value"]]) if "value" in at else None
        item["occurred_at"] = self._time(cells[at["occurred_at"]]) if "occurred_at" in at else None
        attributes = {
            name: plain_text(cells[index])
            for name, index in self.layout.attributes.items()
            if plain_text(cells[index])
        }
        if attributes:
            item["attributes"] = attributes
        return item

    def _void(self, cell: Any) -> bool:
        if isinstance(cell, bool):
            return cell
        text = plain_text(cell).lower()
        if text in VOID_WORDS:
            return VOID_WORDS[text]
        message = _("%(value)s is not yes or no (是/否).") % {"value": plain_text(cell)}
        raise CellFault("void", message)

    def _time(self, cell: Any) -> str | None:
        if isinstance(cell, dt.datetime):
            return _localised(cell, self.tz).isoformat()
        if isinstance(cell, dt.date):
            return dt.datetime.combine(cell, dt.time(), self.tz).isoformat()
        text = plain_text(cell)
        if not text:
            return None
        moment = _parse_time(text)
        if moment is None:
            message = _("%(value)s is not a time; use YYYY-MM-DD HH:MM or YYYY-MM-DD.")
            raise CellFault("occurred_at", message % {"value": text})
        return _localised(moment, self.tz).isoformat()


def _localised(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A time as given; without an offset it is the company's local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        pass
    match = DATE_PATTERN.match(text)
    if match is None:
        return None
    clock_part = re.search(r"[ T](\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    hms = [int(part or 0) for part in clock_part.groups()] if clock_part else [0, 0, 0]
    try:
        return dt.datetime(*(int(part) for part in match.groups()), *hms)
    except ValueError:
        return None


def _value(cell: Any) -> str | None:
    """The value as text; ingest reads the number (and rejects what is none)."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return str(cell)  # not a number: ingest says so
    if isinstance(cell, float) and math.isfinite(cell):
        return _spreadsheet_number(cell)
    if isinstance(cell, int | float):
        return cell_text(cell)
    text = plain_text(cell)
    if THOUSANDS.match(text):
        text = text.replace(",", "")
    return text or None


def _spreadsheet_number(number: float) -> str:
    """A number as the spreadsheet shows it: 15 significant digits, as Excel keeps them. A
    formula's binary noise (=4375*1, 4375.000000000001) would otherwise be too precise."""
    return format(Decimal(format(number, ".15g")).normalize(), "f")


# --- the import -----------------------------------------------------------------------


def import_facts(
    source: str,
    file: str | Path | IO[bytes],
    actor=None,
    progress: tabular.Progress | None = None,
    chunk_size: int = MAX_ITEMS,
) -> FactImportResult:
    """Applies the fact rows of a CSV or XLSX file from `source`, chunk by chunk.

    `actor` None is the system (the CLI). Returns the counts and every rejected row; a
    file that cannot be read, lacks a column or names no active source applies nothing.
    """
    result = FactImportResult(source=source)
    if not Source.objects.filter(code=source, active=True).exists():
        message = _("There is no active source %(source)s.") % {"source": source}
        return _refused(result, RowError(None, "", message))
    try:
        sha256, size = _digest(file)
        table = tabular.read_table(file, progress)
    except tabular.TabularError as exc:
        return _refused(result, RowError(None, "", str(exc)))
    layout, errors = read_layout(table.header)
    if errors:
        result.errors = errors
        result.file_error = True
        return result
    reader = RowReader(layout, ZoneInfo(Company.get().timezone))
    chunks = _chunks(_items(table.rows, reader, layout, result), chunk_size)
    for chunk, applied in ingest_stream(source, chunks, actor, channel=Channel.FILE):
        _apply(chunk, applied, layout, result)
    result.errors.sort(key=lambda error: (error.row or 0, _column_order(error.column, layout)))
    _log(source, actor, result, sha256, size)
    return result


def _refused(result: FactImportResult, error: RowError) -> FactImportResult:
    result.errors.append(error)
    result.file_error = True
    return result


def _digest(file) -> tuple[str, int]:
    """The file's SHA-256 and size, for the sync log and the ledger entry."""
    digest, size = hashlib.sha256(), 0
    if isinstance(file, str | Path):
        try:
            stream = Path(file).open("rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise tabular.TabularError("unreadable") from exc
        with stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        return digest.hexdigest(), size
    start = file.tell()
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
        size += len(block)
    file.seek(start)
    return digest.hexdigest(), size


@dataclass(slots=True)
class _Row:
    number: int
    item: dict


def _items(
    rows: Iterable[tuple[int, tuple]], reader: RowReader, layout: Layout, result: FactImportResult
) -> Iterator[_Row]:
    """The rows that become items; the rest are rejected here (cell faults, repeated ids)."""
    first_row: dict[str, int] = {}
    number = 0
    try:
        for number, cells in rows:
            result.rows += 1
            row = _row(number, cells, reader, layout, result, first_row)
            if row is not None:
                yield row
    except tabular.TabularError as exc:
        # Damaged half-way: the rows read so far are still applied; a re-run after the
        # file is repaired changes nothing that was (the upsert is by external id).
        message = _("Reading stopped after row %(row)s: %(reason)s The rows before it were taken.")
        result.errors.append(RowError(None, "", message % {"row": number, "reason": exc}))


def _row(number, cells, reader, layout, result, first_row: dict[str, int]) -> _Row | None:
    try:
        item = reader.item(cells)
    except CellFault as fault:
        result.errors.append(RowError(number, layout.label(fault.key), str(fault)))
        return None
    external_id = item["external_id"].strip()
    if external_id in first_row:
        message = _("External id %(id)s also appears in row %(row)s.")
        values = {"id": external_id, "row": first_row[external_id]}
        result.errors.append(RowError(number, layout.label("external_id"), message % values))
        return None
    if external_id:
        first_row[external_id] = number
    return _Row(number, item)


class _Chunk(list):
    """The items of a chunk of rows, and the file row each came from."""

    def __init__(self, rows: list[_Row]) -> None:
        super().__init__(row.item for row in rows)
        self.numbers = [row.number for row in rows]


def _chunks(rows: Iterator[_Row], size: int) -> Iterator[_Chunk]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield _Chunk(chunk)
            chunk = []
    if chunk:
        yield _Chunk(chunk)


def _apply(chunk: _Chunk, applied: IngestResult, layout: Layout, result: FactImportResult):
    result.add(applied)
    for rejection in applied.rejected:
        row = chunk.numbers[rejection.index]
        result.errors.append(RowError(row, layout.label(rejection.field), rejection.message))


def _column_order(label: str, layout: Layout) -> int:
    for key, text in layout.labels.items():
        if text == label:
            return COLUMN_KEYS.index(key)
    return len(COLUMN_KEYS)


def _log(source: str, actor, result: FactImportResult, sha256: str, size: int) -> None:
    """One sync-log delivery for the file, and one ledger entry naming the file."""
    with transaction.atomic():
        delivery = record_delivery(source, Channel.FILE, result=_ForTheLog(result))
        Delivery.objects.filter(pk=delivery.pk).update(body_sha256=sha256, body_bytes=size)
        payload = {"source": source, "file_sha256": sha256, "rows": result.rows,
                   **result.counts()}  # fmt: skip
        record("metrics.facts.file_imported", actor, payload, source=source)


# --- the error report -----------------------------------------------------------------


def report_header() -> list[str]:
    return [_("Row"), _("Column"), _("Problem")]


def report_rows(errors: Iterable[RowError]) -> Iterator[list]:
    for error in errors:
        yield [error.row or "", error.column, error.message]


def write_report(target: str | Path | IO[bytes], errors: Iterable[RowError], kind: str) -> None:
    """The rejected rows as "xlsx" or "csv" (UTF-8 with BOM, so Excel shows Chinese), to
    fix the file against: row as the spreadsheet shows it, column, problem."""
    if kind == "xlsx":
        tabular.write_xlsx(target, report_header(), report_rows(errors), _("Problems"))
        return
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(report_header())
    writer.writerows([neutralise(value) for value in row] for row in report_rows(errors))
    data = text.getvalue().encode("utf-8-sig")
    if isinstance(target, str | Path):
        Path(target).write_bytes(data)
    else:
        target.write(data)
