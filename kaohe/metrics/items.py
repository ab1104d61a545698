"""Reading one fact item as a source sent it: every field checked, every fault named.

The checks here need no database; `ingest` then resolves employees and metrics. A fault
becomes a Rejection (index, field, code, message in the active language) and the item is
left out, so the rest of the batch still applies.
"""

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from kaohe.metrics.models import VALUE_PLACES

FIELDS = {"external_id", "employee", "metric", "value", "occurred_at", "attributes", "void"}
MAX_EXTERNAL_ID = 200
MAX_KEY = 50
# A value and its ten-thousandths must survive SQLite, which keeps numbers as doubles:
# Django reads them back with 15 significant digits, so 11 before the point and 4 after.
MAX_ABS_VALUE = Decimal(10) ** 11
QUANTUM = Decimal(1).scaleb(-VALUE_PLACES)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Clocks disagree; a record stamped more than a day ahead is a fault of the sender.
FUTURE_SLACK = dt.timedelta(days=1)
MAX_ATTRIBUTES = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone half of a UTF-16 pair: not text
MAX_SAFE_INTEGER = 2**53 - 1  # what every JSON reader keeps exactly


@dataclass
class Rejection:
    index: int
    field: str
    code: str
    message: str


class Reject(Exception):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


@dataclass(slots=True)
class Item:
    """A well-formed item; `employee` and `metric` are still the codes the source sent."""

    index: int
    external_id: str
    void: bool
    # `"void": false` sent explicitly: a voided record counts again even if unchanged
    # (without it, a repeat of the original delivery leaves a void in place).
    revive: bool = False
    employee: str = ""
    metric: str = ""
    value: Decimal = Decimal(0)
    occurred_at: dt.datetime = EARLIEST
    attributes: dict | None = None
    # Set by the ingest path: the local day and month of occurred_at, and the item's
    # content as a JSON fragment for the change list.
    day: dt.date | None = None
    month: dt.date | None = None
    content: str = ""


def read_item(index: int, raw, now: dt.datetime) -> Item:
    """The item at `index`, checked; raises Reject for its first fault."""
    if not isinstance(raw, dict):
        raise Reject("", "type", _("Each item must be a JSON object."))
    if not FIELDS.issuperset(raw):
        unknown = sorted(set(raw) - FIELDS, key=str)
        field = _printable(str(unknown[0]))[:MAX_KEY]
        raise Reject(field, "unknown_field", _("This field is not known."))
    external_id = _text(raw, "external_id", MAX_EXTERNAL_ID)
    void = raw.get("void", False)
    if not isinstance(void, bool):
        raise Reject("void", "type", _("Send true or false."))
    if void:  # a void names the record; nothing else about it is read
        return Item(index, external_id, True)
    return Item(
        index,
        external_id,
        False,
        revive="void" in raw,
        employee=_text(raw, "employee", 32),
        metric=_text(raw, "metric", 50),
        value=read_value(raw.get("value")),
        occurred_at=read_time(raw.get("occurred_at"), now),
        attributes=_attributes(raw.get("attributes")),
    )


def _text(raw: dict, name: str, max_length: int) -> str:
    value = raw.get(name)
    if value is None:
        raise Reject(name, "missing", _("This field is required."))
    if not isinstance(value, str):
        raise Reject(name, "type", _("Send a string."))
    value = value.strip()
    if not value:
        raise Reject(name, "missing", _("This field is required."))
    if len(value) > max_length:
        message = _("Use at most %(max_length)s characters.") % {"max_length": max_length}
        raise Reject(name, "too_long", message)
    _check_characters(name, value)
    return value


def _check_characters(name: str, value: str) -> None:
    if _CONTROL.search(value):
        raise Reject(name, "control_character", _("Control characters are not allowed."))
    if _SURROGATE.search(value):
        raise Reject(name, "not_unicode", _("Send valid Unicode text."))


def read_value(value) -> Decimal:
    """A decimal string ("125000.00") or a JSON number, at most 4 places and 10^11 in size."""
    if value is None:
        raise Reject("value", "missing", _("This field is required."))
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Reject("value", "type", _('Send the number as a string such as "125000.00".'))
    if isinstance(value, float) and not math.isfinite(value):
        raise Reject("value", "not_a_number", _("This is not a number."))
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise Reject("value", "not_a_number", _("This is not a number.")) from None
    if not number.is_finite():
        raise Reject("value", "not_a_number", _("This is not a number."))
    if abs(number) >= MAX_ABS_VALUE:
        raise Reject("value", "out_of_range", _("The value is too large."))
    exponent = number.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -VALUE_PLACES
        and number != number.quantize(QUANTUM)
    ):
        message = _("Use at most %(places)s decimal places.") % {"places": VALUE_PLACES}
        raise Reject("value", "too_precise", message)
    return number.quantize(QUANTUM)


def read_time(value, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 time with a UTC offset, not before 2000 nor more than a day ahead."""
    if value is None:
        raise Reject("occurred_at", "missing", _("This field is required."))
    if not isinstance(value, str):
        raise Reject("occurred_at", "type", _("Send an ISO 8601 time as a string."))
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        message = _("Send an ISO 8601 time such as 2026-01-15T10:00:00+08:00.")
        raise Reject("occurred_at", "bad_time", message) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        message = _("Give the time with its UTC offset, such as +08:00.")
        raise Reject("occurred_at", "no_offset", message)
    try:
        moment = moment.astimezone(dt.UTC)
    except OverflowError:  # beyond year 1 or 9999 once in UTC
        if moment.year < EARLIEST.year:
            raise Reject(
                "occurred_at", "too_early", _("The time lies before the year 2000.")
            ) from None
        raise Reject("occurred_at", "in_future", _("The time lies in the future.")) from None
    if moment < EARLIEST:
        raise Reject("occurred_at", "too_early", _("The time lies before the year 2000."))
    if moment > now + FUTURE_SLACK:
        raise Reject("occurred_at", "in_future", _("The time lies in the future."))
    return moment


def _attributes(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Reject("attributes", "type", _("Send a JSON object."))
    if len(value) > MAX_ATTRIBUTES:
        message = _("Send at most %(count)s attributes.") % {"count": MAX_ATTRIBUTES}
        raise Reject("attributes", "too_many", message)
    for key, item in value.items():
        _check_characters(f"attributes.{_printable(key)[:MAX_KEY]}", key)
        if len(key) > MAX_KEY:
            raise Reject(f"attributes.{key[:MAX_KEY]}", "too_long", _("The name is too long."))
        if isinstance(item, str):
            _check_text_value(f"attributes.{key}", item)
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_SAFE_INTEGER:
            message = _("Send a number this large as a string.")
            raise Reject(f"attributes.{key}", "out_of_range", message)
        if not (item is None or isinstance(item, str | int | bool)) or isinstance(item, float):
            message = _("Attribute values are strings, whole numbers, true/false or null.")
            raise Reject(f"attributes.{key}", "type", message)
        if isinstance(item, str) and len(item) > 1000:
            raise Reject(f"attributes.{key}", "too_long", _("The value is too long."))
    return value


def _check_text_value(name: str, value: str) -> None:
    """Attribute text may hold line breaks and tabs, but no NUL (PostgreSQL's jsonb refuses
    it) and no lone surrogates."""
    if "\x00" in value:
        raise Reject(name, "control_character", _("Control characters are not allowed."))
    if _SURROGATE.search(value):
        raise Reject(name, "not_unicode", _("Send valid Unicode text."))


def _printable(key: str) -> str:
    return _SURROGATE.sub("?", _CONTROL.sub("?", key))
