"""The HR console's people import (upload, check, apply) and the people export."""

import tempfile

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.front.forms import UploadForm
from kaohe.front.views.people import filtered_employees
from kaohe.lib import tabular
from kaohe.org import people_io
from kaohe.org.actions import company_today
from kaohe.org.models import is_hr

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Exports and reports are built in memory up to this size, then in a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
ERRORS_SHOWN = 200
# The downloadable report of the last failed import lives in the session; cap its size.
ERRORS_KEPT = 5000
REPORT_SESSION_KEY = "people_import_errors"


@login_required
def export_people(request):
    """The people the user may see (narrowed by the list page's filters) as XLSX."""
    buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    narrowed = filtered_employees(request.user, request.GET)
    people_io.export_people(buffer, request.user, narrowed=narrowed)
    return _xlsx_response(buffer, people_io.export_filename(company_today()))


def _xlsx_response(buffer, filename: str) -> FileResponse:
    buffer.seek(0)
    return FileResponse(buffer, as_attachment=True, filename=filename, content_type=XLSX_TYPE)


class ImportForm(UploadForm):
    field_order = ["file", "effective", "dry_run"]

    effective = forms.DateField(
        label=gettext_lazy("Changes take effect on"),
        required=False,
        help_text=gettext_lazy("For moves, new managers and new positions; default today."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    dry_run = forms.BooleanField(label=gettext_lazy("Only check, write nothing"), required=False)


@login_required
def import_people(request):
    """GET: the upload form. POST: import all or nothing; show the counts or every error."""
    if not is_hr(request.user):
        raise PermissionDenied
    if request.GET.get("report") == "errors":
        return _error_report(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = people_io.import_people(
            form.cleaned_data["file"],
            actor=request.user,
            effective=form.cleaned_data["effective"],
            dry_run=form.cleaned_data["dry_run"],
        )
        _keep_error_report(request, result)
    return render(request, "front/people_import.html", _page(form, result))


def _page(form: ImportForm, result: people_io.ImportResult | None) -> dict:
    errors = result.errors if result else []
    return {
        "form": form,
        "result": result,
        "errors": errors[:ERRORS_SHOWN],
        "errors_hidden": max(len(errors) - ERRORS_SHOWN, 0),
        "columns": people_io.COLUMNS,
        "max_bytes": settings.KAOHE_MAX_IMPORT_BYTES,
    }


def _keep_error_report(request, result: people_io.ImportResult) -> None:
    if result.ok:
        request.session.pop(REPORT_SESSION_KEY, None)
        return
    kept = [[error.row, error.column, error.message] for error in result.errors[:ERRORS_KEPT]]
    request.session[REPORT_SESSION_KEY] = kept


def _error_report(request) -> FileResponse:
    """The last failed import's errors as XLSX, to fix the file against."""
    kept = request.session.get(REPORT_SESSION_KEY)
    if not kept:
        raise Http404
    buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    header = [_("Row"), _("Column"), _("Problem")]
    tabular.write_xlsx(buffer, header, kept, sheet_title=_("Problems"))
    return _xlsx_response(buffer, f"kaohe-import-errors-{company_today():%Y%m%d}.xlsx")
