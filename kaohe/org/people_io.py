"""People in and out of spreadsheets: the HR console's and the CLI's import and export.

An import is all or nothing. Every row is parsed and checked in memory against a few bulk
queries; when anything is wrong the result lists every error (row as the spreadsheet shows
it, column, reason) and nothing is written. Otherwise employees are created and updated in
bulk, with their placement history, in one transaction. Upsert is by employee number;
columns missing from the file leave those fields of existing employees alone.
"""

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kaohe.ledger.bulk import append_many
from kaohe.lib import clock, tabular
from kaohe.lib.tabular import CellError, date_cell, email_cell, required, text_cell, word_cell
from kaohe.org.actions import company_today, evidence_value
from kaohe.org.evidence import actor_label, record
from kaohe.org.models import Employee, EmploymentStatus, OrgUnit, Placement, Role
from kaohe.org.validators import ORG_CODE_PATTERN, employee_no_problem

# Rows per IN (...) lookup and per bulk write; SQLite allows 999 parameters a statement.
CHUNK = 900
# About 2.5 KB of memory per row while checking; beyond this, ask for smaller files.
MAX_ROWS = 300_000
REASON_HIRED = "hired (people import)"
REASON_CHANGED = "people import"


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    aliases: tuple[str, ...] = ()
    required: bool = False


COLUMNS = (
    Column("employee_no", "工号", ("employee number", "员工编号", "员工工号"), required=True),
    Column("name", "姓名", ("名字", "员工姓名"), required=True),
    Column("org_unit", "组织编码", ("org unit", "部门", "部门编码", "组织", "组织代码"), True),
    Column("manager", "直属上级工号", ("line manager", "上级工号", "直属上级", "上级")),
    Column("position", "岗位", ("职位", "岗位名称")),
    Column("gender", "性别"),
    Column("birth_date", "出生日期", ("birth date", "生日")),
    Column("hire_date", "入职日期", ("hire date",), required=True),
    Column("status", "状态", ("employment status", "在职状态", "员工状态")),
    Column("email", "邮箱", ("e-mail", "电子邮箱", "邮件")),
    Column("mobile", "手机", ("mobile phone", "手机号", "手机号码", "电话")),
)
COLUMN_KEYS = [column.key for column in COLUMNS]
PLACEMENT_FIELDS = ("org_unit", "manager", "position")

GENDER_WORDS = {"male": "male", "m": "male", "男": "male", "female": "female", "f": "female",
                "女": "female"}  # fmt: skip
STATUS_WORDS = {
    "active": "active", "在职": "active", "正式": "active",
    "probation": "probation", "on probation": "probation", "试用": "probation",
    "试用期": "probation",
    "leave": "leave", "on leave": "leave", "休假": "leave", "长假": "leave",
    "terminated": "terminated", "left the company": "terminated", "离职": "terminated",
    "已离职": "terminated",
}  # fmt: skip
ZH_GENDER = {"male": "男", "female": "女"}
ZH_STATUS = {"active": "在职", "probation": "试用期", "leave": "休假", "terminated": "离职"}


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in the file. `row` is None for the file as a whole."""

    row: int | None
    column: str
    message: str

    def describe(self) -> str:
        if self.row is None:
            if not self.column:
                return self.message
            return _("column %(column)s: %(reason)s") % {
                "column": self.column,
                "reason": self.message,
            }
        return _("row %(row)s, column %(column)s: %(reason)s") % {
            "row": self.row,
            "column": self.column,
            "reason": self.message,
        }


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


# --- parsing --------------------------------------------------------------------------


@dataclass(slots=True)
class PersonRow:
    """One data row: `values` holds the parsed cells of the columns the file has."""

    row: int
    values: dict[str, Any]
    labels: dict[str, str]

    @property
    def no(self) -> str:
        return self.values.get("employee_no") or ""


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


HEADER_KEYS = {
    _header_key(name): column.key
    for column in COLUMNS
    for name in (column.key, column.zh, *column.aliases)
}


def _max_length(model, key: str) -> int:
    return model._meta.get_field(key).max_length


def _employee_no(parse: tabular.Parser) -> tabular.Parser:
    """`parse`, then the rule every employee number follows (kaohe/org/validators.py):
    one path segment, and none of the words the people pages use as paths."""

    def parse_employee_no(value: Any) -> str:
        number = parse(value)
        if number and (problem := employee_no_problem(number)):
            raise CellError(problem)
        return number

    return parse_employee_no


PARSERS = {
    "employee_no": _employee_no(required(text_cell(_max_length(Employee, "employee_no")))),
    "name": required(text_cell(_max_length(Employee, "name"))),
    "org_unit": required(text_cell(_max_length(OrgUnit, "code"))),
    "manager": _employee_no(text_cell(_max_length(Employee, "employee_no"))),
    "position": text_cell(_max_length(Employee, "position")),
    "gender": word_cell(GENDER_WORDS, blank=""),
    "birth_date": date_cell,
    "hire_date": required(date_cell),
    # An empty status keeps the current one (new employees start active).
    "status": word_cell(STATUS_WORDS, blank=None),
    "email": email_cell(_max_length(Employee, "email")),
    "mobile": text_cell(_max_length(Employee, "mobile")),
}


def _map_header(header: list[str]) -> tuple[dict[str, int], dict[str, str], list[RowError]]:
    """Which cell holds which column, the label the file uses for it, and header errors."""
    positions: dict[str, int] = {}
    labels: dict[str, str] = {}
    errors = []
    for index, text in enumerate(header):
        key = HEADER_KEYS.get(_header_key(text))
        if key is None:
            continue  # extra columns are allowed and ignored
        if key in positions:
            message = _("This column appears more than once.")
            errors.append(RowError(None, text, message))
            continue
        positions[key], labels[key] = index, text
    for column in COLUMNS:
        if column.required and column.key not in positions:
            message = _("The required column %(key)s (%(zh)s) is missing.") % {
                "key": column.key,
                "zh": column.zh,
            }
            errors.append(RowError(None, column.key, message))
    return positions, labels, errors


def _parse_rows(
    table: tabular.Table, positions: dict[str, int], labels: dict[str, str]
) -> Iterator[tuple[PersonRow, list[RowError]]]:
    width = max(positions.values()) + 1
    for number, cells in table.rows:
        cells = cells + (None,) * (width - len(cells))
        values, errors = {}, []
        for key, index in positions.items():
            try:
                values[key] = PARSERS[key](cells[index])
            except CellError as exc:
                errors.append(RowError(number, labels[key], str(exc)))
        yield PersonRow(number, values, labels), errors


# --- the import -----------------------------------------------------------------------


def import_people(
    source: str | Path | IO[bytes],
    actor=None,
    effective: dt.date | None = None,
    dry_run: bool = False,
    progress: tabular.Progress | None = None,
) -> ImportResult:
    """Creates or updates the employees in a CSV or XLSX file, all or nothing.

    `actor` None is the system (the CLI) with full rights; a user may only touch
    employees and org units within `Employee.objects.managed_by(user)`. Changed units,
    managers or positions are recorded as placements starting at `effective` (default:
    today in the company's timezone). With `dry_run` everything is checked and counted
    but nothing is written.
    """
    effective = effective or company_today()
    try:
        file_sha256 = _sha256(source)
        rows, errors = _read(source, progress)
    except tabular.TabularError as exc:
        return ImportResult(errors=[RowError(None, "", str(exc))], dry_run=dry_run)
    if rows is None:
        return ImportResult(errors=errors, dry_run=dry_run)
    if effective > company_today():
        errors.insert(0, RowError(None, "", _("The effective date cannot be in the future.")))
    try:
        with transaction.atomic():
            plan = ImportPlan(rows, actor, effective)
            errors = sorted(errors + plan.errors, key=_reading_order)
            result = ImportResult(errors=errors, dry_run=dry_run, **plan.counts())
            if result.ok and not dry_run:
                plan.apply()
                plan.record(file_sha256)
    except IntegrityError:
        # Someone else changed the same people between our checks and our writes.
        message = _("The data changed while importing; nothing was imported. Please retry.")
        return ImportResult(errors=[RowError(None, "", message)], dry_run=dry_run)
    return result


def _sha256(source) -> str:
    """The file's SHA-256, recorded in the ledger so the imported file can be identified."""
    digest = hashlib.sha256()
    if isinstance(source, str | Path):
        try:
            with Path(source).open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise tabular.TabularError("unreadable") from exc
        return digest.hexdigest()
    start = source.tell()
    for block in iter(lambda: source.read(1 << 20), b""):
        digest.update(block)
    source.seek(start)
    return digest.hexdigest()


def _reading_order(error: RowError) -> tuple[int, int]:
    """File-level errors first, then by row, then left to right in the usual column order."""
    key = HEADER_KEYS.get(_header_key(error.column))
    return error.row or 0, COLUMN_KEYS.index(key) if key else len(COLUMN_KEYS)


def _read(source, progress) -> tuple[list[PersonRow] | None, list[RowError]]:
    """The unique rows of the file plus the errors found in the cells themselves.

    Rows is None when the header is unusable, as no row can be understood then.
    """
    table = tabular.read_table(source, progress)
    positions, labels, errors = _map_header(table.header)
    if errors:
        return None, errors
    rows: list[PersonRow] = []
    first_row_of: dict[str, int] = {}
    for count, (row, cell_errors) in enumerate(_parse_rows(table, positions, labels), 1):
        if count > MAX_ROWS:
            message = _("The file has more than %(max)s rows; please split it.")
            return None, [RowError(None, "", message % {"max": MAX_ROWS})]
        errors.extend(cell_errors)
        if row.no and row.no in first_row_of:
            message = _("Employee number %(no)s also appears in row %(row)s.") % {
                "no": row.no,
                "row": first_row_of[row.no],
            }
            errors.append(RowError(row.row, labels["employee_no"], message))
            continue
        if row.no:
            first_row_of[row.no] = row.row
        rows.append(row)
    return rows, errors


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _employees_by_no(numbers: Iterable[str]) -> dict[str, Employee]:
    """Existing employees by number, with `manager_no` and their unit's code and path."""
    found = {}
    for chunk in _chunks(sorted(numbers)):
        query = (
            Employee.objects.filter(employee_no__in=chunk)
            .select_related("org_unit")
            .annotate(manager_no=F("manager__employee_no"))
        )
        found.update((employee.employee_no, employee) for employee in query)
    return found


def _managed_unit_paths(actor) -> list[str] | None:
    """Path prefixes of the units `actor` may put people in; None means all of them.

    Mirrors `EmployeeQuerySet.managed_by` for units that may hold nobody yet.
    """
    if actor is None or actor.is_superuser:
        return None
    if not actor.is_active:
        return []
    assignments = list(actor.role_assignments.select_related("org_unit"))
    if any(assignment.role == Role.HR_ADMIN for assignment in assignments):
        return None
    return [a.org_unit.path for a in assignments if a.role == Role.HR_PARTNER and a.org_unit]


class ImportPlan:
    """Checks the rows against the database, then (if asked) writes them.

    Reads everything it needs with a few bulk queries up front, so that checking and
    writing 100,000 rows costs a few hundred statements, not a few per row.
    """

    def __init__(self, rows: list[PersonRow], actor, effective: dt.date):
        self.rows = rows
        self.actor = actor
        self.effective = effective
        self.errors: list[RowError] = []
        self.in_file = {row.no: row for row in rows if row.no}
        self.existing = _employees_by_no(self.in_file)
        self.units = self._load_units()
        # People above the file's rows who are not in it: number -> manager number, id.
        self.outside: dict[str, str | None] = {}
        self.outside_ids: dict[str, int] = {}
        self.unknown_managers: set[str] = set()
        self._load_outside_chain()
        self._check_units()
        self._check_managers()
        self._check_scope()
        self.changes = self._changes()
        self.change_log: dict[str, dict[str, list]] = {}
        self._unit_codes: dict[int, str] | None = None
        self._numbers: dict[int, str] | None = None
        self.open_placements = self._load_open_placements()
        self._check_placement_dates()

    # loading

    def _load_units(self) -> dict[str, OrgUnit]:
        codes = {row.values.get("org_unit") or "" for row in self.rows}
        codes = {code for code in codes if _possible_code(code)}
        units = {}
        for chunk in _chunks(sorted(codes)):
            units.update((unit.code, unit) for unit in OrgUnit.objects.filter(code__in=chunk))
        return units

    def _load_outside_chain(self) -> None:
        """Loads the manager of every employee above the file's rows who is not in it.

        Walks up level by level (a query per level and chunk) so that a cycle running
        through people already in kaohe can be found.
        """
        wanted = {self.manager_no_of(no) for no in self.in_file}
        while wanted := {no for no in wanted if no and no not in self.in_file} - set(self.outside):
            found = {}
            for chunk in _chunks(sorted(wanted)):
                query = Employee.objects.filter(employee_no__in=chunk)
                for no, pk, manager_no in query.values_list(
                    "employee_no", "pk", "manager__employee_no"
                ):
                    found[no], self.outside_ids[no] = manager_no, pk
            self.unknown_managers |= wanted - found.keys()
            self.outside.update(found)
            self.outside.update(dict.fromkeys(wanted - found.keys()))
            wanted = set(found.values())

    def manager_no_of(self, no: str) -> str | None:
        """The manager `no` will have after the import (a file row wins over the DB)."""
        row = self.in_file.get(no)
        if row is not None and "manager" in row.values:
            return row.values["manager"] or None
        if no in self.existing:
            return self.existing[no].manager_no
        if row is not None:
            return None
        return self.outside.get(no)

    def _load_open_placements(self) -> dict[int, Placement]:
        ids = [self.existing[no].pk for no, fields in self.changes.items() if _moves(fields)]
        found = {}
        for chunk in _chunks(ids):
            query = Placement.objects.filter(employee_id__in=chunk, valid_to__isnull=True)
            found.update((placement.employee_id, placement) for placement in query)
        return found

    # checks

    def _error(self, row: PersonRow, key: str, message: str) -> None:
        self.errors.append(RowError(row.row, row.labels.get(key, key), message))

    def _check_units(self) -> None:
        for row in self.rows:
            code = row.values.get("org_unit")
            # A code that cannot be a unit's (a slash, a space) is not looked up at all.
            if code and code not in self.units:
                message = _("There is no org unit %(code)s.") % {"code": code}
                self._error(row, "org_unit", message)

    def _check_managers(self) -> None:
        unknown = self.unknown_managers | self._hidden_new_managers()
        for row in self.rows:
            manager = row.values.get("manager")
            if manager and manager in unknown:
                message = _("No employee has the number %(no)s, in this file or in kaohe.")
                self._error(row, "manager", message % {"no": manager})
        for cycle in self._cycles():
            message = _cycle_message(cycle)
            for member in cycle:
                if member in self.in_file:
                    self._error(self.in_file[member], "manager", message)

    def _hidden_new_managers(self) -> set[str]:
        """Newly assigned managers outside the file whom the actor may not see.

        They read as unknown, as in the API, so that employee numbers cannot be probed.
        """
        if self.actor is None:
            return set()
        wanted = {
            manager
            for row in self.rows
            if (manager := row.values.get("manager"))
            and manager not in self.in_file
            and not _same_manager(self.existing.get(row.no), manager)
        } - self.unknown_managers
        visible = set()
        for chunk in _chunks(sorted(wanted)):
            query = Employee.objects.visible_to(self.actor).filter(employee_no__in=chunk)
            visible.update(query.values_list("employee_no", flat=True))
        return wanted - visible

    def _cycles(self) -> Iterator[list[str]]:
        """The employee numbers of each manager cycle the import would create."""
        state: dict[str, int] = {}  # 1 = on the current walk, 2 = known to end at a root
        for start in self.in_file:
            walk: list[str] = []
            no: str | None = start
            while no is not None and no not in state:
                state[no] = 1
                walk.append(no)
                no = self.manager_no_of(no)
            if no is not None and state[no] == 1:
                yield walk[walk.index(no) :]
            state.update(dict.fromkeys(walk, 2))

    def _check_scope(self) -> None:
        paths = _managed_unit_paths(self.actor)
        if paths is None:
            return
        for row in self.rows:
            unit = self.units.get(row.values.get("org_unit") or "")
            if unit is not None and not unit.path.startswith(tuple(paths)):
                message = _("You may not place people in org unit %(code)s.")
                self._error(row, "org_unit", message % {"code": unit.code})
        managed = self._managed_existing()
        for no in self.existing.keys() - managed:
            # Worded as the API's answer, so neither says more than that the number is taken.
            message = _("Employee number %(no)s is not available to you.") % {"no": no}
            self._error(self.in_file[no], "employee_no", message)

    def _managed_existing(self) -> set[str]:
        managed = set()
        for chunk in _chunks(sorted(self.existing)):
            query = Employee.objects.managed_by(self.actor).filter(employee_no__in=chunk)
            managed.update(query.values_list("employee_no", flat=True))
        return managed

    def _check_placement_dates(self) -> None:
        for no, fields in self.changes.items():
            current = self.open_placements.get(self.existing[no].pk)
            if _moves(fields) and current and current.valid_from > self.effective:
                message = _(
                    "The effective date must be on or after %(date)s, when the current "
                    "placement began."
                ) % {"date": current.valid_from.isoformat()}
                self._error(self.in_file[no], "employee_no", message)

    # what changes

    def _changes(self) -> dict[str, list[str]]:
        """For each existing employee in the file, the fields the file changes."""
        changes = {}
        for no, employee in self.existing.items():
            fields = [
                key
                for key, value in self.in_file[no].values.items()
                if key != "employee_no" and not _same(employee, key, value)
            ]
            if fields:
                changes[no] = fields
        return changes

    def counts(self) -> dict[str, int]:
        updated = len(self.changes)
        return {
            "created": len(self.in_file) - len(self.existing),
            "updated": updated,
            "unchanged": len(self.existing) - updated,
        }

    # writing

    def _evidence_field(self, employee: Employee, key: str, ids: dict[str, int]):
        """A field as the ledger records it: units by code, managers by number."""
        if key == "org_unit":
            if self._unit_codes is None:
                self._unit_codes = dict(OrgUnit.objects.values_list("pk", "code"))
            return self._unit_codes[employee.org_unit_id]
        if key == "manager":
            if employee.manager_id is None:
                return None
            if self._numbers is None:
                self._numbers = {pk: no for no, pk in ids.items()}
            number = self._numbers.get(employee.manager_id)
            return number or Employee.objects.get(pk=employee.manager_id).employee_no
        return evidence_value(getattr(employee, key))

    def record(self, file_sha256: str) -> None:
        """Ledger entries: one per created or changed employee (so each appears in her own
        evidence), then one for the whole import with the file's hash and the counts."""
        actor, source = actor_label(self.actor), {"file_sha256": file_sha256, "via": "import"}
        created = sorted(set(self.in_file) - set(self.existing))
        items = [("org.employee.created", {"employee": no}, actor,
                  {"fields": self._created_fields(no), **source}) for no in created]  # fmt: skip
        items += [("org.employee.updated", {"employee": no}, actor, {"changes": changes, **source})
                  for no, changes in sorted(self.change_log.items())]  # fmt: skip
        append_many(items)
        payload = {**source, "effective": self.effective.isoformat(), **self.counts()}
        record("org.people.imported", self.actor, payload)

    def _created_fields(self, no: str) -> dict:
        values = self.in_file[no].values
        return {key: evidence_value(value) for key, value in values.items() if key != "employee_no"}

    def apply(self) -> None:
        ids = {no: employee.pk for no, employee in self.existing.items()} | self.outside_ids
        created = self._create_employees(ids)
        old_hire_dates = self._update_employees(ids)
        self._record_placements(created)
        self._move_first_placements(old_hire_dates)

    def _create_employees(self, ids: dict[str, int]) -> list[Employee]:
        """Creates the new employees managers first, so each insert knows its manager's id."""
        created = []
        for level in self._new_by_level():
            batch = [self._new_employee(row, ids) for row in level]
            Employee.objects.bulk_create(batch, batch_size=CHUNK)
            ids.update((employee.employee_no, employee.pk) for employee in batch)
            created.extend(batch)
        return created

    def _new_by_level(self) -> list[list[PersonRow]]:
        """New employees grouped by how many new managers stand above them."""
        depth: dict[str, int] = {}
        new_rows = [row for no, row in self.in_file.items() if no not in self.existing]
        for row in new_rows:
            self._measure_depth(row.no, depth)
        levels: list[list[PersonRow]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for row in new_rows:
            levels[depth[row.no]].append(row)
        return levels

    def _measure_depth(self, no: str, depth: dict[str, int]) -> None:
        # A loop, not recursion: a chain of new hires may be thousands deep.
        chain = []
        while no not in depth:
            manager = self.manager_no_of(no)
            if manager not in self.in_file or manager in self.existing:
                depth[no] = 0
                break
            chain.append(no)
            no = manager
        level = depth[no]
        for member in reversed(chain):
            level += 1
            depth[member] = level

    def _new_employee(self, row: PersonRow, ids: dict[str, int]) -> Employee:
        values = row.values
        manager = values.get("manager")
        return Employee(
            employee_no=row.no,
            name=values["name"],
            org_unit_id=self.units[values["org_unit"]].pk,
            manager_id=ids[manager] if manager else None,
            position=values.get("position", ""),
            gender=values.get("gender", ""),
            birth_date=values.get("birth_date"),
            hire_date=values["hire_date"],
            status=values.get("status") or EmploymentStatus.ACTIVE,
            email=values.get("email", ""),
            mobile=values.get("mobile", ""),
        )

    def _update_employees(self, ids: dict[str, int]) -> dict[int, dt.date]:
        """Saves the changes; returns the old hire date of everyone whose hire date changed."""
        changed, fields, old_hire_dates = [], set(), {}
        for no, keys in self.changes.items():
            employee = self.existing[no]
            if "hire_date" in keys:
                old_hire_dates[employee.pk] = employee.hire_date
            old = {key: self._evidence_field(employee, key, ids) for key in keys}
            for key in keys:
                _assign(employee, key, self.in_file[no].values[key], self.units, ids)
            new = {key: self._evidence_field(employee, key, ids) for key in keys}
            self.change_log[no] = {key: [old[key], new[key]] for key in keys}
            changed.append(employee)
            fields.update(keys)
        if changed:
            Employee.objects.bulk_update(changed, sorted(fields), batch_size=CHUNK // 2)
        return old_hire_dates

    def _move_first_placements(self, old_hire_dates: dict[int, dt.date]) -> None:
        """A corrected hire date moves the start of the placement that began on the old
        one, as `actions.do_upsert_employee` does, unless that would leave it no day."""
        new_hire_dates = {e.pk: e.hire_date for e in self.existing.values()}
        moved = []
        for chunk in _chunks(sorted(old_hire_dates)):
            first: dict[int, Placement] = {}
            for placement in Placement.objects.filter(employee_id__in=chunk).order_by(
                "-valid_from"
            ):
                first[placement.employee_id] = placement  # the earliest one wins
            for pk, placement in first.items():
                hired = new_hire_dates[pk]
                if placement.valid_from == old_hire_dates[pk] and (
                    placement.valid_to is None or hired < placement.valid_to
                ):
                    placement.valid_from = hired
                    moved.append(placement)
        Placement.objects.bulk_update(moved, ["valid_from"], batch_size=CHUNK)

    def _record_placements(self, created: list[Employee]) -> None:
        recorded = {"recorded_by": _user_or_none(self.actor), "recorded_at": clock.now()}
        _open_hire_placements([employee.pk for employee in created], recorded)
        fresh = []
        moved = [self.existing[no] for no, keys in self.changes.items() if _moves(keys)]
        to_close, to_fix = [], []
        for employee in moved:
            current = self.open_placements.get(employee.pk)
            if current is not None and current.valid_from == self.effective:
                to_fix.append(_refreshed(current, employee, recorded))
                continue
            if current is not None:
                to_close.append(current.pk)
            fresh.append(_placement(employee, self.effective, REASON_CHANGED, recorded))
        for chunk in _chunks(to_close):
            Placement.objects.filter(pk__in=chunk).update(valid_to=self.effective)
        fix_fields = ["org_unit", "manager", "position", "recorded_by", "recorded_at", "reason"]
        Placement.objects.bulk_update(to_fix, fix_fields, batch_size=CHUNK // 2)
        Placement.objects.bulk_create(fresh, batch_size=CHUNK)


def _open_hire_placements(employee_ids: list[int], recorded: dict) -> None:
    """Opens a placement from the hire date for each new employee, copied in the database.

    INSERT ... SELECT spares building 100,000 Placement objects and their SQL in Python,
    which took as long as creating the employees themselves.
    """
    placement, employee = Placement._meta, Employee._meta

    def column(meta, name: str) -> str:
        return connection.ops.quote_name(meta.get_field(name).column)

    copied = ["org_unit", "manager", "position"]
    targets = ["employee", *copied, "valid_from", "recorded_by", "recorded_at", "reason"]
    sources = ["id", *copied, "hire_date"]
    user = recorded["recorded_by"]
    params = [
        user.pk if user else None,
        connection.ops.adapt_datetimefield_value(recorded["recorded_at"]),
        REASON_HIRED,
    ]
    with connection.cursor() as cursor:
        for chunk in _chunks(employee_ids, CHUNK - len(params)):
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(placement.db_table)}"  # noqa: S608 - names are ours
                f" ({', '.join(column(placement, name) for name in targets)})"
                f" SELECT {', '.join(column(employee, name) for name in sources)}, %s, %s, %s"
                f" FROM {connection.ops.quote_name(employee.db_table)}"
                f" WHERE {column(employee, 'id')} IN ({', '.join(['%s'] * len(chunk))})",
                [*params, *chunk],
            )


def _cycle_message(cycle: list[str], shown: int = 6) -> str:
    if len(cycle) == 1:
        return _("An employee cannot be their own manager.")
    path = [*cycle, cycle[0]] if len(cycle) <= shown else [*cycle[:shown], "…"]
    return _("The manager chain would form a cycle: %(path)s.") % {"path": " → ".join(path)}


def _possible_code(code: str) -> bool:
    """Whether `code` could be an org unit's code (kaohe/org/validators.py)."""
    return re.fullmatch(ORG_CODE_PATTERN, code) is not None


def _moves(fields: Iterable[str]) -> bool:
    return any(key in PLACEMENT_FIELDS for key in fields)


def _same(employee: Employee, key: str, value: Any) -> bool:
    if key == "org_unit":
        return employee.org_unit.code == value
    if key == "manager":
        return _same_manager(employee, value)
    if key == "status" and value is None:
        return True  # an empty status keeps the current one
    return getattr(employee, key) == value


def _same_manager(employee: Employee | None, manager_no: str | None) -> bool:
    return employee is not None and (employee.manager_no or "") == (manager_no or "")


def _assign(employee: Employee, key: str, value: Any, units, ids) -> None:
    if key == "org_unit":
        employee.org_unit = units[value]
    elif key == "manager":
        employee.manager_id = ids[value] if value else None
    else:
        setattr(employee, key, value)


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


def _placement(employee: Employee, since: dt.date, reason: str, recorded: dict) -> Placement:
    return Placement(
        employee_id=employee.pk,
        org_unit_id=employee.org_unit_id,
        manager_id=employee.manager_id,
        position=employee.position,
        valid_from=since,
        reason=reason,
        **recorded,
    )


def _refreshed(current: Placement, employee: Employee, recorded: dict) -> Placement:
    """The placement that began on the effective date, now saying where she stands."""
    current.org_unit_id = employee.org_unit_id
    current.manager_id = employee.manager_id
    current.position = employee.position
    current.reason = REASON_CHANGED
    current.recorded_by = recorded["recorded_by"]
    current.recorded_at = recorded["recorded_at"]
    return current


# --- export ---------------------------------------------------------------------------


def export_people(target: IO[bytes] | str, viewer, narrowed: QuerySet | None = None) -> None:
    """Writes the employees `viewer` may see (optionally only those also in `narrowed`)
    as an XLSX file that `import_people` reads back unchanged.

    Headers and the gender and status words are Chinese when the active language is.
    """
    people = Employee.objects.visible_to(viewer)
    if narrowed is not None:
        people = people.filter(pk__in=narrowed.values("pk"))
    people = people.select_related("org_unit", "manager").order_by("employee_no")
    chinese = (get_language() or "").startswith("zh")
    header = [column.zh if chinese else column.key for column in COLUMNS]
    rows = (_export_row(employee, chinese) for employee in people.iterator(chunk_size=2000))
    tabular.write_xlsx(target, header, rows, sheet_title="员工" if chinese else "people")


def _export_row(employee: Employee, chinese: bool) -> list[Any]:
    gender, status = employee.gender, employee.status
    if chinese:
        gender, status = ZH_GENDER.get(gender, gender), ZH_STATUS.get(status, status)
    return [
        employee.employee_no,
        employee.name,
        employee.org_unit.code,
        employee.manager.employee_no if employee.manager else "",
        employee.position,
        gender,
        employee.birth_date,
        employee.hire_date,
        status,
        employee.email,
        employee.mobile,
    ]


def export_filename(day: dt.date) -> str:
    return f"kaohe-people-{day:%Y%m%d}.xlsx"
