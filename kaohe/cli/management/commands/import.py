"""`kaohe import KIND FILE ...`: bulk files from the command line, as the system actor.

Each kind is a subcommand with its own arguments and a `handle_<kind>` method, so a new
kind (`kaohe import facts FILE --source crm`) is one parser and one method more.
"""

import datetime as dt
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from kaohe.org import people_io


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(
            _("%(value)s is not a date; use YYYY-MM-DD.") % {"value": text}
        ) from None


class Command(BaseCommand):
    help = "Imports a CSV or XLSX file, all or nothing. Kinds: employees."

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

    def handle(self, *args, kind: str, **options):
        getattr(self, f"handle_{kind}")(**options)

    def handle_employees(self, file: str, effective, dry_run: bool, **options):
        path = self._existing_file(file)
        with self._progress_bar(options["verbosity"]) as bar:
            result = people_io.import_people(
                path, actor=None, effective=effective, dry_run=dry_run, progress=bar.track
            )
        self._finish(result)

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


class ProgressBar:
    """A tqdm bar on stderr fed by a reader's progress(rows_read, total) callback.

    It hides itself when stderr is not a terminal, so logs stay clean.
    """

    def __init__(self, disable: bool = False):
        self.bar = tqdm(
            desc=_("reading"), unit=_("rows"), file=sys.stderr, disable=True if disable else None
        )

    def track(self, done: int, total: int | None) -> None:
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)
        if done == total:  # the file is read; checking and writing follow
            self.bar.set_description(_("checking and writing"))

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.bar.close()
