"""`kaohe import KIND FILE ...`: bulk files from the command line, as the system actor.

`employees` is all or nothing; `facts` applies the good rows chunk by chunk and reports
the others (exit status 1 when any row was rejected).

Each kind is a subcommand with its own arguments and a `handle_<kind>` method, so a new
kind (`kaohe import facts FILE --source crm`) is one parser and one method more.
"""

import datetime as dt
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from kaohe.integrations import fact_files
from kaohe.org import people_io

# Rejected rows printed on the terminal; --report writes them all.
ERRORS_PRINTED = 50


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(
            _("%(value)s is not a date; use YYYY-MM-DD.") % {"value": text}
        ) from None


class Command(BaseCommand):
    help = "Imports a CSV or XLSX file. Kinds: employees (all or nothing), facts (row by row)."

    def add_arguments(self, parser):
        kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
        employees = kinds.add_parser(
            "employees",
            help="create or update employees by employee number",
            description="Columns: employee_no, name, org_unit (code), manager (employee_no), "
            "position, gender, birth_date, hire_date, status, email, mobile; Chinese headers "
            "(工号, 姓名, 组织编码, ...) work too.",
        )
        employees.add_argument("file", help="a .csv (UTF-8 or GBK) or .xlsx file")
        employees.add_argument(
            "--effective",
            type=iso_date,
            help="date from which changed units, managers and positions count "
            "(YYYY-MM-DD; default today)",
        )
        employees.add_argument(
            "--dry-run", action="store_true", help="check and count, but write nothing"
        )
        facts = kinds.add_parser(
            "facts",
            help="create, update or void the records of a source by external id",
            description="Columns: external_id, employee (number), metric (code), value, "
            "occurred_at, and optionally void and attr.<name>; Chinese headers (外部编号, "
            "员工编号, 指标, 数值, 发生时间, 作废, 属性.<名称>) work too. Rows are applied in "
            "chunks of 10,000 as they are read; good rows apply even if others are rejected, "
            "and running the same file again changes nothing that was applied.",
        )
        facts.add_argument("file", help="a .csv (UTF-8 or GBK) or .xlsx file")
        facts.add_argument("--source", required=True, help="the code of the source, e.g. crm")
        facts.add_argument(
            "--report",
            metavar="FILE",
            help="write every rejected row (row, column, reason) to this .csv or .xlsx file",
        )

    def handle(self, *args, kind: str, **options):
        getattr(self, f"handle_{kind}")(**options)

    def handle_employees(self, file: str, effective, dry_run: bool, **options):
        path = self._existing_file(file)
        with self._progress_bar(options["verbosity"]) as bar:
            result = people_io.import_people(
                path, actor=None, effective=effective, dry_run=dry_run, progress=bar.track
            )
        self._finish(result)

    def handle_facts(self, file: str, source: str, report: str | None, **options):
        path = self._existing_file(file)
        report_kind = _report_kind(report) if report else None
        with ProgressBar(options["verbosity"] == 0, _("importing"), finishing="") as bar:
            result = fact_files.import_facts(source, path, actor=None, progress=bar.track)
        if report:
            fact_files.write_report(report, result.errors, report_kind)
        self._finish_facts(result, report)

    def _finish_facts(self, result: fact_files.FactImportResult, report: str | None) -> None:
        for error in result.errors[:ERRORS_PRINTED]:
            self.stderr.write(error.describe())
        hidden = len(result.errors) - ERRORS_PRINTED
        if hidden > 0:
            more = _("... and %(count)s more problems") % {"count": hidden}
            self.stderr.write(
                more if report else more + " " + _("(write them all with --report FILE)")
            )
        if result.file_error:
            raise CommandError(_("The file was not imported."))
        counts = _("created %(created)s, updated %(updated)s, unchanged %(unchanged)s, "
                   "voided %(voided)s, rejected %(rejected)s") % result.counts()  # fmt: skip
        self.stdout.write(counts)
        if result.errors:
            message = _("%(count)s rows were rejected; the other rows were applied.")
            raise CommandError(message % {"count": result.rejected})

    def _existing_file(self, name: str) -> Path:
        path = Path(name)
        if not path.is_file():
            raise CommandError(_("No such file: %(name)s") % {"name": name})
        return path

    def _progress_bar(self, verbosity: int) -> "ProgressBar":
        return ProgressBar(disable=verbosity == 0)

    def _finish(self, result: people_io.ImportResult) -> None:
        if not result.ok:
            for error in result.errors:
                self.stderr.write(error.describe())
            raise CommandError(
                _("%(count)s errors; nothing was imported.") % {"count": len(result.errors)}
            )
        counts = _("created %(created)s, updated %(updated)s, unchanged %(unchanged)s") % {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
        if result.dry_run:
            counts += " " + _("(dry run: nothing was written)")
        self.stdout.write(counts)


def _report_kind(name: str) -> str:
    kind = Path(name).suffix.lower().lstrip(".")
    if kind not in ("csv", "xlsx"):
        raise CommandError(_("The report must be a .csv or .xlsx file."))
    return kind


class ProgressBar:
    """A tqdm bar on stderr fed by a reader's progress(rows_read, total) callback.

    It hides itself when stderr is not a terminal, so logs stay clean. `finishing` names
    what follows once the file is read ("": nothing, the rows were written as read).
    """

    def __init__(self, disable=False, description: str | None = None, finishing: str | None = None):
        self.finishing = _("checking and writing") if finishing is None else finishing
        self.bar = tqdm(
            desc=description or _("reading"),
            unit=_("rows"),
            file=sys.stderr,
            disable=True if disable else None,
        )

    def track(self, done: int, total: int | None) -> None:
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)
        if done == total and self.finishing:  # the file is read; what follows
            self.bar.set_description(self.finishing)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.bar.close()
