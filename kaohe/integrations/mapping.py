"""Field mappings: how a sender's own JSON (a webhook body, a pulled page) becomes fact items.

A mapping is data, never code: JSON paths, constants, string templates, lookup tables and a
few time formats. Nothing in it is evaluated. An example, for a body
`{"errcode": 0, "recordresult": [{"id": 7, "userId": "u1", "userCheckTime": 1767225600000}]}`:

    {
      "ok_when": [{"path": "errcode", "equals": 0}],   # the document reports success
      "error_message": "errmsg",                      # else this says why
      "items": "recordresult",                        # where the records are ("$": the body)
      "when": [{"path": "checkType", "equals": "OnDuty"}],   # which records count
      "fields": {
        "external_id": {"template": "dingtalk-{id}"},
        "employee": {"path": "userId", "lookup": "employees", "unmatched": "keep"},
        "metric": {"const": "days_present"},
        "value": {"const": "1"},
        "occurred_at": {"path": "userCheckTime", "format": "epoch_ms"},
        "void": {"path": "timeResult", "lookup": {"NotSigned": true}, "default": false},
        "attributes": {"check_type": "checkType"}
      },
      "tables": {"employees": {"u1": "E0003"}},      # vendor user id -> employee number
      "next_cursor": "cursor", "has_more": "hasMore"  # paging, for pull connectors
    }

A path is dotted keys (`a.b.0.c`, a number indexes a list). A field is a path (a string
for short), `{"const": v}` or `{"template": "text {path} {path|date:epoch_ms}"}`, and may
add `lookup` (an object, or the name of a table in `tables`), `unmatched` ("keep" the
value or "reject" the record, the default, unless `default` is given), `default` (for a
missing value or an unmatched lookup), `format` (how a time is written; see TIME_FORMATS)
and, for the value, `multiply`. Conditions hold one operator: `equals`, `not_equals`,
`in`, `not_in` or `exists`; all conditions of a list must hold.

Employees: vendors send their own user ids. A source either configures the vendor's user
id to equal the employee number, or lists the ids that differ in the `employees` table;
with `"unmatched": "keep"` an id not in the table is taken as the employee number.

`check_mapping` validates a mapping when it is saved, naming the faulty key. `map_document`
applies one: a fault in one record rejects that record (its index, field and reason), a
fault of the whole document (not the expected shape, `ok_when` failing) raises
DocumentFault.
"""

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

TIME_FORMATS = ("iso", "epoch_s", "epoch_ms", "local", "date")
FACT_FIELDS = ("external_id", "employee", "metric", "value", "occurred_at")
OPTIONAL_FIELDS = ("void", "attributes")
TOP_KEYS = {"items", "when", "fields", "tables", "ok_when", "error_message"}
PAGING_KEYS = {"next_cursor", "has_more"}
SOURCES = ("path", "const", "template")
FIELD_KEYS = {*SOURCES, "lookup", "unmatched", "default", "format", "multiply"}
OPERATORS = ("equals", "not_equals", "in", "not_in", "exists")
MAX_PATH = 200
MAX_TABLE_ROWS = 100_000
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
PLACEHOLDER = re.compile(r"\{([^{}|]*)(?:\|([^{}]*))?\}")
MISSING = object()
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A number written out takes at most this many digits: no id or amount is longer, and
# 1e5000 written out would be 5,001.
MAX_NUMBER_DIGITS = 100
MAX_SAFE_INTEGER = 2**53 - 1  # what every JSON reader keeps exactly
MAX_SAID = 500  # characters of the sender's own error message kept
# Room for the product of two numbers of MAX_NUMBER_DIGITS digits, exactly.
_EXACT = decimal.Context(prec=2 * MAX_NUMBER_DIGITS + 2, traps=[decimal.Inexact])


class MappingInvalid(ValueError):
    """A mapping that cannot be used; `errors` holds (key, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors))
        self.errors = errors


class DocumentFault(ValueError):
    """The document as a whole is not what the mapping expects; no record is read."""


class RecordFault(ValueError):
    def __init__(self, field_name: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field_name, code, message


@dataclass
class RecordRejection:
    """One record of the sender's list left out: its index there, the field and why."""

    index: int
    field: str
    code: str
    message: str


@dataclass
class Mapped:
    items: list[dict] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)  # the sender's index of each item
    rejected: list[RecordRejection] = field(default_factory=list)
    records: int = 0  # how many the sender's list held
    skipped: int = 0  # records the `when` conditions left out
    next_cursor: str | None = None
    has_more: bool | None = None


# --- paths ------------------------------------------------------------------------------


def resolve(document, path: str):
    """The value at `path` in `document`, or MISSING; null counts as missing."""
    if path in ("$", ""):
        return document
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
        if value is MISSING or value is None:
            return MISSING
    return value


# --- checking a mapping when it is saved --------------------------------------------------


def check_mapping(mapping) -> dict:
    """Returns `mapping` if it can be used, else raises MappingInvalid naming every fault."""
    errors: list[tuple[str, str]] = []
    if not isinstance(mapping, dict):
        raise MappingInvalid([("", _("A mapping is a JSON object."))])
    for key in sorted(set(mapping) - TOP_KEYS - PAGING_KEYS):
        errors.append((key, _("Unknown key; use one of %(keys)s.") % _keys(TOP_KEYS | PAGING_KEYS)))
    _check_path(mapping.get("items"), "items", errors, required=True)
    for key in ("error_message", *sorted(PAGING_KEYS)):
        if key in mapping:
            _check_path(mapping[key], key, errors)
    if mapping.get("error_message") in ("$", ""):
        message = _("Give the path of the message itself, such as errmsg, not the whole body.")
        errors.append(("error_message", message))
    tables = _check_tables(mapping.get("tables", {}), errors)
    for key in ("when", "ok_when"):
        if key in mapping:
            _check_conditions(mapping[key], key, errors)
    _check_fields(mapping.get("fields"), tables, errors)
    if errors:
        raise MappingInvalid(errors)
    return mapping


def _keys(keys) -> dict:
    return {"keys": ", ".join(sorted(keys))}


def _check_path(path, key: str, errors: list, *, required: bool = False) -> None:
    if path is None and not required:
        return
    if path is None:
        errors.append((key, _("This key is required.")))
    elif not isinstance(path, str) or not path.strip():
        errors.append((key, _('Give a path such as "data.items" ("$" for the whole body).')))
    elif len(path) > MAX_PATH:
        errors.append((key, _("The path is too long.")))
    elif path != "$" and any(not part for part in path.split(".")):
        errors.append((key, _("The path has an empty part (two dots, or a dot at an end).")))


def _check_tables(tables, errors: list) -> set[str]:
    if not isinstance(tables, dict):
        errors.append(("tables", _("Tables are a JSON object of name -> {vendor value: ours}.")))
        return set()
    for name, table in tables.items():
        if not isinstance(table, dict):
            errors.append((f"tables.{name}", _("A table is a JSON object.")))
        elif len(table) > MAX_TABLE_ROWS:
            errors.append((f"tables.{name}", _("A table may hold at most 100,000 rows.")))
        elif any(isinstance(v, dict | list) for v in table.values()):
            errors.append((f"tables.{name}", _("Table values are strings, numbers or true/false.")))
    return set(tables)


def _check_conditions(conditions, key: str, errors: list) -> None:
    if not isinstance(conditions, list):
        errors.append((key, _("Give a list of conditions, all of which must hold.")))
        return
    for number, condition in enumerate(conditions):
        where = f"{key}.{number}"
        if not isinstance(condition, dict):
            errors.append((where, _("A condition is a JSON object.")))
            continue
        _check_path(condition.get("path"), f"{where}.path", errors, required=True)
        operators = [op for op in OPERATORS if op in condition]
        unknown = set(condition) - {"path", *OPERATORS}
        if unknown:
            message = _("Unknown key; use one of %(keys)s.") % _keys({"path", *OPERATORS})
            errors.append((f"{where}.{sorted(unknown)[0]}", message))
        elif len(operators) != 1:
            message = _("Give exactly one of %(keys)s.") % _keys(OPERATORS)
            errors.append((where, message))
        elif operators[0] in ("in", "not_in") and not isinstance(condition[operators[0]], list):
            errors.append((f"{where}.{operators[0]}", _("Give a list of values.")))
        elif operators[0] == "exists" and not isinstance(condition["exists"], bool):
            errors.append((f"{where}.exists", _("Give true or false.")))


def _check_fields(fields, tables: set[str], errors: list) -> None:
    if not isinstance(fields, dict):
        errors.append(("fields", _("This key is required: how each fact field is found.")))
        return
    allowed = (*FACT_FIELDS, *OPTIONAL_FIELDS)
    for name in fields:
        if name not in allowed:
            message = _("Unknown fact field; use one of %(keys)s.") % _keys(allowed)
            errors.append((f"fields.{name}", message))
    for name in FACT_FIELDS:
        if name not in fields:
            errors.append((f"fields.{name}", _("This field is required.")))
        else:
            _check_spec(fields[name], f"fields.{name}", name, tables, errors)
    if "void" in fields:
        _check_spec(fields["void"], "fields.void", "void", tables, errors)
    attributes = fields.get("attributes", {})
    if not isinstance(attributes, dict):
        errors.append(("fields.attributes", _("Give an object of attribute name -> field.")))
        return
    for name, spec in attributes.items():
        _check_spec(spec, f"fields.attributes.{name}", "attribute", tables, errors)


def _check_spec(spec, key: str, name: str, tables: set[str], errors: list) -> None:
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict):
        errors.append((key, _("Give a path, or an object with path, const or template.")))
        return
    for unknown in sorted(set(spec) - FIELD_KEYS):
        message = _("Unknown key; use one of %(keys)s.") % _keys(FIELD_KEYS)
        errors.append((f"{key}.{unknown}", message))
    sources = [s for s in SOURCES if s in spec]
    if len(sources) != 1:
        errors.append((key, _("Give exactly one of %(keys)s.") % _keys(SOURCES)))
        return
    if "path" in spec:
        _check_path(spec["path"], f"{key}.path", errors, required=True)
    if "template" in spec:
        _check_template(spec["template"], f"{key}.template", errors)
    if "const" in spec and isinstance(spec["const"], dict | list):
        errors.append((f"{key}.const", _("A constant is a string, number or true/false.")))
    _check_lookup(spec, key, tables, errors)
    _check_format(spec, key, name, errors)
    if "multiply" in spec:
        _check_multiply(spec["multiply"], f"{key}.multiply", name, errors)


def _check_template(template, key: str, errors: list) -> None:
    if not isinstance(template, str) or not template:
        errors.append((key, _('A template is text such as "crm-{id}".')))
        return
    for match in PLACEHOLDER.finditer(template):
        path, pipe = match.group(1), match.group(2)
        if not path:
            errors.append((key, _("A placeholder needs a path, such as {id}.")))
        elif pipe is not None and not _is_date_filter(pipe):
            message = _("Unknown filter %(filter)s; use |date:<format>, a format of %(formats)s.")
            errors.append((key, message % {"filter": pipe, "formats": ", ".join(TIME_FORMATS)}))


def _is_date_filter(pipe: str) -> bool:
    name, _sep, time_format = pipe.partition(":")
    return name == "date" and time_format in TIME_FORMATS


def _check_lookup(spec: dict, key: str, tables: set[str], errors: list) -> None:
    lookup = spec.get("lookup")
    if lookup is not None and not isinstance(lookup, dict | str):
        errors.append((f"{key}.lookup", _("Give an object, or the name of a table.")))
    elif isinstance(lookup, str) and lookup not in tables:
        message = _("There is no table %(name)s under tables.") % {"name": lookup}
        errors.append((f"{key}.lookup", message))
    unmatched = spec.get("unmatched")
    if unmatched is not None and (lookup is None or unmatched not in ("keep", "reject")):
        message = _('unmatched goes with lookup and is "keep" or "reject".')
        errors.append((f"{key}.unmatched", message))


def _check_format(spec: dict, key: str, name: str, errors: list) -> None:
    time_format = spec.get("format")
    if time_format is None:
        return
    if name != "occurred_at":
        errors.append((f"{key}.format", _("Only occurred_at takes a time format.")))
    elif time_format not in TIME_FORMATS:
        message = _("Unknown time format; use one of %(keys)s.") % _keys(TIME_FORMATS)
        errors.append((f"{key}.format", message))


def _check_multiply(factor, key: str, name: str, errors: list) -> None:
    if name != "value":
        errors.append((key, _("Only the value may be multiplied.")))
        return
    try:
        ok = not isinstance(factor, bool) and Decimal(str(factor)).is_finite()
    except InvalidOperation:
        ok = False
    if not ok:
        errors.append((key, _('Give a number such as "0.01".')))


# --- applying a mapping ---------------------------------------------------------------


def map_document(mapping: dict, document, tz: ZoneInfo) -> Mapped:
    """The fact items in `document` (parsed with Decimal for numbers), record by record."""
    _check_document(mapping, document)
    records = resolve(document, mapping["items"])
    if isinstance(records, dict) and mapping["items"] in ("$", ""):
        records = [records]
    if not isinstance(records, list):
        raise DocumentFault(_("Found no list at %(path)s.") % {"path": mapping["items"]})
    result = Mapped(records=len(records))
    for index, record in enumerate(records):
        _map_one(mapping, record, index, tz, result)
    _last_stands(result)
    _read_paging(mapping, document, result)
    return result


def _last_stands(result: Mapped) -> None:
    """Of records mapped to the same external id (two punches of one day), the last in the
    body stands for all; the others count as skipped."""
    last = {item["external_id"]: n for n, item in enumerate(result.items)}
    if len(last) == len(result.items):
        return
    kept = sorted(last.values())
    result.skipped += len(result.items) - len(kept)
    result.items = [result.items[n] for n in kept]
    result.origins = [result.origins[n] for n in kept]


def _check_document(mapping: dict, document) -> None:
    conditions = mapping.get("ok_when") or []
    if all(_holds(c, document) for c in conditions):
        return
    reason = _("The sender reports an error.")
    said = _said(document, mapping.get("error_message"))
    raise DocumentFault(f"{reason} {said}" if said else reason)


def _said(document, path) -> str:
    """The sender's own error message: one short value, never the body (a pulled URL may
    point at a service whose answer is not for the request log)."""
    if not path or path in ("$", ""):
        return ""
    said = resolve(document, path)
    if isinstance(said, bool) or not isinstance(said, str | int | Decimal):
        return ""
    return str(said)[:MAX_SAID] if isinstance(said, str) else _plain_number(said) or ""


def _map_one(mapping: dict, record, index: int, tz: ZoneInfo, result: Mapped) -> None:
    if not isinstance(record, dict):
        message = _("The record is not an object.")
        result.rejected.append(RecordRejection(index, "", "type", message))
        return
    if not all(_holds(c, record) for c in mapping.get("when") or []):
        result.skipped += 1
        return
    try:
        item = map_record(mapping, record, tz)
    except RecordFault as fault:
        result.rejected.append(RecordRejection(index, fault.field, fault.code, fault.message))
        return
    result.items.append(item)
    result.origins.append(index)


def _holds(condition: dict, document) -> bool:
    value = resolve(document, condition["path"])
    if "exists" in condition:
        return (value is not MISSING) == condition["exists"]
    if "equals" in condition:
        return value is not MISSING and _same(value, condition["equals"])
    if "not_equals" in condition:
        return value is MISSING or not _same(value, condition["not_equals"])
    if "in" in condition:
        return value is not MISSING and any(_same(value, v) for v in condition["in"])
    return value is MISSING or not any(_same(value, v) for v in condition["not_in"])


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    # A mapping stored as JSON holds floats; the document's numbers are Decimals.
    a, b = (Decimal(str(x)) if isinstance(x, float) else x for x in (a, b))
    return a == b


def map_record(mapping: dict, record: dict, tz: ZoneInfo) -> dict:
    """One fact item from one record; raises RecordFault for the first faulty field."""
    fields, tables = mapping["fields"], mapping.get("tables", {})
    item: dict = {"external_id": _identifier(fields, record, tables, "external_id", tz)}
    void = fields.get("void")
    if void is not None and _boolean(_field(void, record, tables, "void", tz, optional=True)):
        item["void"] = True
        return item  # a void names the record; nothing else about it is read
    item["employee"] = _identifier(fields, record, tables, "employee", tz)
    item["metric"] = _identifier(fields, record, tables, "metric", tz)
    item["value"] = _value(fields["value"], record, tables, tz)
    item["occurred_at"] = _time(fields["occurred_at"], record, tables, tz)
    attributes = _attributes(fields.get("attributes") or {}, record, tables, tz)
    if attributes:
        item["attributes"] = attributes
    return item


def _field(spec, record: dict, tables: dict, name: str, tz: ZoneInfo, optional: bool = False):
    spec = {"path": spec} if isinstance(spec, str) else spec
    value = _raw(spec, record, name, tz)
    if value is MISSING:
        if "default" in spec:
            return spec["default"]
        if optional:
            return MISSING
        where = spec.get("path", name)
        raise RecordFault(name, "missing", _("%(path)s is missing.") % {"path": where})
    if "lookup" in spec:
        return _look_up(spec, value, tables, name)
    return value


def _raw(spec: dict, record: dict, name: str, tz: ZoneInfo):
    if "const" in spec:
        return spec["const"]
    if "path" in spec:
        return resolve(record, spec["path"])
    return _fill(spec["template"], record, name, tz)


def _fill(template: str, record: dict, name: str, tz: ZoneInfo) -> str:
    def substitute(match: re.Match) -> str:
        path, pipe = match.group(1), match.group(2)
        value = resolve(record, path)
        if value is MISSING:
            raise RecordFault(name, "missing", _("%(path)s is missing.") % {"path": path})
        if pipe:
            moment = to_time(value, pipe.partition(":")[2], tz, name, path)
            return moment.astimezone(tz).date().isoformat()
        return _scalar_text(value, name, path)

    return PLACEHOLDER.sub(substitute, template)


def _look_up(spec: dict, value, tables: dict, name: str):
    table = spec["lookup"] if isinstance(spec["lookup"], dict) else tables.get(spec["lookup"], {})
    key = _scalar_text(value, name, spec.get("path", name))
    if key in table:
        return table[key]
    if spec.get("unmatched") == "keep":
        return value
    if "default" in spec:
        return spec["default"]
    message = _("%(value)s is not in the lookup table.") % {"value": key[:100]}
    raise RecordFault(name, "unmatched", message)


def _scalar_text(value, name: str, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | float):
        return _number_text(value, name, path)
    if isinstance(value, str):
        return value
    message = _("%(path)s is a list or an object, not a single value.") % {"path": path}
    raise RecordFault(name, "type", message)


def _number_text(number, name: str, path: str) -> str:
    """The number written out in full ("100", "12.5"); a fault when it is not finite or
    would take more than MAX_NUMBER_DIGITS digits."""
    number = _decimal(number)
    if not number.is_finite():
        raise RecordFault(name, "not_a_number", _("This is not a number."))
    text = _plain_number(number)
    if text is None:
        message = _("%(path)s is too long a number (more than %(max)s digits).")
        raise RecordFault(name, "out_of_range", message % {"path": path, "max": MAX_NUMBER_DIGITS})
    return text


def _decimal(number: Decimal | int | float) -> Decimal:
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _plain_number(number) -> str | None:
    """`number` without exponent or trailing zeros, or None if it is too long to write.
    Exact for any size (Decimal's context would round it, or refuse to quantize it)."""
    number = _decimal(number)
    if not number.is_finite():
        return None
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    if not any(digits):
        return "0"
    while exponent < 0 and digits[-1] == 0:  # 12.50 -> 12.5, 100.00 -> 100
        digits, exponent = digits[:-1], exponent + 1
    width = max(len(digits) + exponent, 1) + max(-exponent, 0)
    if width > MAX_NUMBER_DIGITS:
        return None
    return format(Decimal((sign, digits, exponent)), "f")


def _identifier(fields: dict, record: dict, tables: dict, name: str, tz: ZoneInfo) -> str:
    """An id, a number or a code as text; an object, a list or true/false is a fault."""
    value = _field(fields[name], record, tables, name, tz)
    if isinstance(value, bool | dict | list):
        message = _("%(field)s must come out as text or a number.") % {"field": name}
        raise RecordFault(name, "type", message)
    return _text(value, name)


def _text(value, name: str) -> str:
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return _number_text(value, name, name)
    return value  # not a string: ingest rejects it with the field's name


def _boolean(value) -> bool:
    if value is MISSING:
        return False
    if not isinstance(value, bool):
        raise RecordFault("void", "type", _("void must come out as true or false."))
    return value


def _value(spec, record: dict, tables: dict, tz: ZoneInfo):
    value = _field(spec, record, tables, "value", tz)
    factor = spec.get("multiply") if isinstance(spec, dict) else None
    if factor is None:
        return _text(value, "value")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordFault("value", "not_a_number", _("This is not a number.")) from None
    _number_text(number, "value", "value")  # bounded before it is multiplied
    try:
        number = _EXACT.multiply(number, Decimal(str(factor)))
    except ArithmeticError:  # more digits than any amount has
        number = Decimal("Infinity")
    return _number_text(number, "value", "value")


def _time(spec, record: dict, tables: dict, tz: ZoneInfo) -> str:
    value = _field(spec, record, tables, "occurred_at", tz)
    time_format = (spec.get("format") if isinstance(spec, dict) else None) or "iso"
    path = spec if isinstance(spec, str) else spec.get("path", "occurred_at")
    return to_time(value, time_format, tz, "occurred_at", path).isoformat()


def to_time(value, time_format: str, tz: ZoneInfo, name: str, path: str) -> dt.datetime:
    """`value` read as a time written in `time_format`; naive times are in `tz`."""
    try:
        moment = _read_time(value, time_format, tz)
        moment.astimezone(dt.UTC), moment.astimezone(tz)  # year 1 at +08:00 has no UTC
    except (ValueError, ArithmeticError, OSError):
        message = _("%(path)s is not a time written as %(format)s.")
        message %= {"path": path, "format": time_format}
        raise RecordFault(name, "bad_time", message) from None
    return moment


def _read_time(value, time_format: str, tz: ZoneInfo) -> dt.datetime:
    if time_format in ("epoch_s", "epoch_ms"):
        if isinstance(value, bool):
            raise ValueError
        micros_per_unit = 1000 if time_format == "epoch_ms" else 1_000_000
        number = Decimal(str(value).strip())
        if not number.is_finite() or number.adjusted() > 20:  # beyond any calendar
            raise ValueError
        micros = int(number * micros_per_unit)
        return (EPOCH + dt.timedelta(microseconds=micros)).astimezone(tz)
    if not isinstance(value, str):
        raise ValueError
    if time_format == "local":
        return dt.datetime.strptime(value.strip(), LOCAL_FORMAT).replace(tzinfo=tz)
    if time_format == "date":
        day = dt.date.fromisoformat(value.strip())
        return dt.datetime.combine(day, dt.time(), tz)
    moment = dt.datetime.fromisoformat(value.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _attributes(specs: dict, record: dict, tables: dict, tz: ZoneInfo) -> dict:
    attributes = {}
    for name, spec in specs.items():
        value = _field(spec, record, tables, f"attributes.{name}", tz, optional=True)
        if value is MISSING:
            continue
        if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
            value = _attribute_number(value, f"attributes.{name}")
        if isinstance(value, dict | list):
            message = _("%(path)s is a list or an object, not a single value.") % {"path": name}
            raise RecordFault(f"attributes.{name}", "type", message)
        attributes[name] = value
    return attributes


def _attribute_number(number, name: str) -> int | str:
    """A whole number every JSON reader keeps exactly stays a number; any other number is
    passed on as its text (attributes hold no fractions), or rejects the record."""
    number = _decimal(number)
    whole = number.is_finite() and number == number.to_integral_value(decimal.ROUND_DOWN)
    if whole and number.copy_abs() <= MAX_SAFE_INTEGER:
        return int(number)
    return _number_text(number, name, name)


def _read_paging(mapping: dict, document, result: Mapped) -> None:
    if mapping.get("next_cursor"):
        cursor = resolve(document, mapping["next_cursor"])
        if cursor is not MISSING and cursor != "":
            try:
                result.next_cursor = _scalar_text(cursor, "next_cursor", mapping["next_cursor"])
            except RecordFault as fault:  # of the document, not of one record
                raise DocumentFault(fault.message) from None
    if mapping.get("has_more"):
        more = resolve(document, mapping["has_more"])
        result.has_more = more is True or (isinstance(more, str) and more.lower() == "true")
