"""Reading and writing spreadsheet files: CSV in whatever encoding China's office tools
produce, and XLSX. Knows nothing of kaohe's apps.

Reading yields rows lazily, each with the row number a person sees in their spreadsheet
program (the header is row 1), so errors can point at the right line.
"""

import codecs
import contextlib
import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import charset_normalizer
import openpyxl
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

Progress = Callable[[int, int | None], None]
"""Called as progress(rows_read, total_rows_or_None) while a file is read; the last call,
when the file is exhausted, has total == rows_read."""

PROGRESS_EVERY = 1000
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the pre-2007 binary .xls format
CSV_DELIMITERS = (",", "\t", ";")

# Cells starting with these make spreadsheet programs evaluate the text as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class TabularError(Exception):
    """The file cannot be read as a table. `str()` is a message for the user."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)

    def __str__(self) -> str:
        messages = {
            "old-xls": _("This is an old .xls file; please save it as .xlsx or CSV."),
            "unreadable": _("The file cannot be opened."),
            "encoding": _("The text encoding of this file is not recognised."),
            "empty": _("The file has no header row."),
        }
        return messages.get(self.reason, _("The file is damaged or not a CSV or XLSX file."))


@dataclass
class Table:
    header: list[str]
    header_row: int
    rows: Iterator[tuple[int, tuple[Any, ...]]]
    """(row number, cell values) for each non-empty row after the header."""
    total: int | None
    """How many rows follow the header, when the file says so cheaply (for progress bars)."""


def read_table(source: str | Path | IO[bytes], progress: Progress | None = None) -> Table:
    """Opens a CSV or XLSX file (told apart by content, not by name) as a `Table`.

    Raises TabularError for a file that is neither, is damaged, or has no header row.
    """
    owned = isinstance(source, str | Path)
    stream: IO[bytes] = _open_binary(source) if isinstance(source, str | Path) else source
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(XLSX_MAGIC):
        # The rows are read lazily; the reader closes the file once they are exhausted.
        table = _read_xlsx(stream, close=stream.close if owned else None)
    else:
        with contextlib.closing(stream) if owned else contextlib.nullcontext():
            if head.startswith(OLE_MAGIC):
                raise TabularError("old-xls")
            table = _read_csv(stream.read())
    if progress is not None:
        table.rows = _reporting(table.rows, progress, table.total)
    return table


def _open_binary(path: str | Path) -> IO[bytes]:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise TabularError("unreadable") from exc


def _reporting(rows: Iterator, progress: Progress, total: int | None) -> Iterator:
    count = 0
    for count, row in enumerate(rows, start=1):
        if count % PROGRESS_EVERY == 0:
            progress(count, total)
        yield row
    progress(count, count)


# --- CSV ------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Decodes a text file from Chinese office software.

    UTF-8 (with or without BOM) first, strictly, because a valid UTF-8 Chinese file is
    almost never valid GB18030 by accident; then GB18030, the superset of GBK and GB2312
    that Excel on Chinese Windows writes; then whatever charset-normalizer guesses.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_or_fail(data, "utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    guess = charset_normalizer.from_bytes(data).best()
    if guess is None:
        raise TabularError("encoding")
    return str(guess)


def _decode_or_fail(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise TabularError("encoding") from exc


def _read_csv(data: bytes) -> Table:
    text = decode_text(data)
    if "\x00" in text:
        raise TabularError("damaged")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    rows = _numbered_nonempty(reader)
    try:
        header_row, header = next(rows)
    except StopIteration:
        raise TabularError("empty") from None
    except csv.Error as exc:
        raise TabularError("damaged") from exc
    total = max(text.count("\n") - header_row, 0)
    return Table(_header_names(header), header_row, _csv_errors_as_tabular(rows), total)


def _sniff_delimiter(text: str) -> str:
    """The separator the header line uses most: Excel writes ';' in some locales, '\\t'
    when saving "Unicode text"."""
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    return max(CSV_DELIMITERS, key=first_line.count)


def _csv_errors_as_tabular(rows: Iterator) -> Iterator:
    try:
        yield from rows
    except csv.Error as exc:
        raise TabularError("damaged") from exc


# --- XLSX -----------------------------------------------------------------------------


def _read_xlsx(stream: IO[bytes], close: Callable[[], None] | None) -> Table:
    try:
        # read_only streams the sheet XML instead of building every cell object;
        # data_only gives the values Excel last computed instead of formulas.
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        sheet = book.active or book.worksheets[0]
        rows = _xlsx_rows(sheet, closing=[book.close, *([close] if close else [])])
        header_row, header = next(rows)
    except StopIteration:
        raise TabularError("empty") from None
    except TabularError:
        raise
    except Exception as exc:  # BadZipFile, KeyError, XML errors...: all mean a broken file
        if close:
            close()
        raise TabularError("damaged") from exc
    total = sheet.max_row - header_row if sheet.max_row else None
    return Table(_header_names(header), header_row, rows, total)


def _xlsx_rows(sheet, closing: list[Callable[[], None]]) -> Iterator[tuple[int, tuple]]:
    try:
        yield from _numbered_nonempty(sheet.iter_rows(values_only=True))
    except Exception as exc:  # a sheet can be damaged half-way; openpyxl raises anything
        raise TabularError("damaged") from exc
    finally:
        for close in closing:
            close()


# --- both -----------------------------------------------------------------------------


def _numbered_nonempty(rows: Iterable[Iterable[Any]]) -> Iterator[tuple[int, tuple]]:
    for number, row in enumerate(rows, start=1):
        values = tuple(row)
        if any(_is_filled(value) for value in values):
            yield number, values


def _is_filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _header_names(cells: tuple) -> list[str]:
    return [cell_text(cell) for cell in cells]


def cell_text(value: Any) -> str:
    """A cell as trimmed text: whole numbers without ".0", dates as YYYY-MM-DD.

    Numbers matter because Excel stores an employee number like 1001 or a mobile number
    as a number and hands it back as 1001.0.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


# --- cells: each parser takes a raw cell and returns a value or raises CellError ---------

Parser = Callable[[Any], Any]

DATE_PATTERN = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"  # a midnight time some tools append
)


class CellError(ValueError):
    """A cell that cannot be used; the message is for the user."""


def plain_text(value: Any) -> str:
    """The cell's text as the user typed it (see `cell_text`, `unneutralise`)."""
    return unneutralise(cell_text(value))


def text_cell(max_length: int) -> Parser:
    def parse(value: Any) -> str:
        text = plain_text(value)
        if len(text) > max_length:
            raise CellError(_("Longer than %(max)s characters.") % {"max": max_length})
        return text

    return parse


def required(parse: Parser) -> Parser:
    def parse_required(value: Any) -> Any:
        result = parse(value)
        if result in ("", None):
            raise CellError(_("This value is required."))
        return result

    return parse_required


def date_cell(value: Any) -> dt.date | None:
    """A real date cell, or text as YYYY-MM-DD, YYYY/MM/DD or YYYY年M月D日; empty is None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = plain_text(value)
    if not text:
        return None
    match = DATE_PATTERN.match(text)
    try:
        if match is None:
            raise ValueError(text)
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise CellError(_("%(value)s is not a date; use YYYY-MM-DD.") % {"value": text}) from None


def word_cell(words: dict[str, str], blank: Any) -> Parser:
    """One of `words` (matched ignoring case), as the value it maps to; empty is `blank`."""
    allowed = ", ".join(sorted(set(words.values())))

    def parse(value: Any) -> Any:
        text = plain_text(value)
        if not text:
            return blank
        try:
            return words[text.lower()]
        except KeyError:
            message = _("%(value)s is not one of: %(allowed)s.")
            raise CellError(message % {"value": text, "allowed": allowed}) from None

    return parse


def email_cell(max_length: int) -> Parser:
    as_text = text_cell(max_length)

    def parse(value: Any) -> str:
        text = as_text(value)
        if text:
            try:
                validate_email(text)
            except ValidationError:
                message = _("%(value)s is not a valid email address.")
                raise CellError(message % {"value": text}) from None
        return text

    return parse


# --- writing --------------------------------------------------------------------------


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe.

    Guards against formula injection (a name like "=HYPERLINK(...)" typed into kaohe
    must not become a live formula on an HR laptop). Non-text values pass unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unneutralise(text: str) -> str:
    """Undoes `neutralise`, so a file kaohe exported reads back as what was exported."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def write_xlsx(
    target: str | Path | IO[bytes],
    header: list[str],
    rows: Iterable[Iterable[Any]],
    sheet_title: str = "Sheet1",
) -> None:
    """Writes one sheet, streaming (openpyxl write_only), every text cell neutralised.

    Dates become real date cells. `target` must be seekable if it is a file object.
    """
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title)
    sheet.append([neutralise(name) for name in header])
    for row in rows:
        sheet.append([neutralise(value) for value in row])
    book.save(target)
