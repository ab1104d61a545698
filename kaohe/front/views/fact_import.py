"""The HR admin's fact import: a CSV or XLSX file of records from one source, applied row
by row (chunk by chunk), with the counts and a downloadable report of the rejected rows.

Facts are company data from the business systems, like an API key's deliveries, so only
HR admins import them; HR partners and everyone else get a 403.
"""

import tempfile

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from kaohe.front.forms import UploadForm
from kaohe.integrations import fact_files
from kaohe.integrations.models import Source
from kaohe.org.actions import company_today
from kaohe.org.models import is_hr_admin
from kaohe.org.people_io import RowError

REPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
SPOOL_BYTES = 8 * 1024 * 1024
ERRORS_SHOWN = 200
# The report of the last import lives in the session; beyond this it says how many more.
ERRORS_KEPT = 5000
REPORT_SESSION_KEY = "fact_import_errors"


class FactImportForm(UploadForm):
    field_order = ["source", "file"]

    source = forms.ModelChoiceField(
        label=gettext_lazy("Source"),
        queryset=Source.objects.filter(active=True),
        to_field_name="code",
        empty_label=None,
    )


@login_required
def import_facts(request):
    """GET: the upload form (or, with ?report=xlsx|csv, the last import's problems).
    POST: import the file and show the counts and the rejected rows."""
    if not is_hr_admin(request.user):
        raise PermissionDenied
    if request.GET.get("report"):
        return _error_report(request, request.GET["report"])
    form = FactImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = fact_files.import_facts(
            form.cleaned_data["source"].code, form.cleaned_data["file"], actor=request.user
        )
        _keep_error_report(request, result)
    return render(request, "front/fact_import.html", _page(form, result))


def _page(form: FactImportForm, result: fact_files.FactImportResult | None) -> dict:
    errors = result.errors if result else []
    return {
        "form": form,
        "result": result,
        "errors": errors[:ERRORS_SHOWN],
        "errors_hidden": max(len(errors) - ERRORS_SHOWN, 0),
        "errors_not_in_report": max(len(errors) - ERRORS_KEPT, 0),
        "columns": fact_files.COLUMNS,
        "max_bytes": settings.KAOHE_MAX_IMPORT_BYTES,
        "max_items": fact_files.MAX_ITEMS,
        "has_sources": Source.objects.filter(active=True).exists(),
    }


def _keep_error_report(request, result: fact_files.FactImportResult) -> None:
    if result.ok:
        request.session.pop(REPORT_SESSION_KEY, None)
        return
    kept = [[error.row, error.column, error.message] for error in result.errors[:ERRORS_KEPT]]
    request.session[REPORT_SESSION_KEY] = kept


def _error_report(request, kind: str) -> FileResponse:
    """The last import's rejected rows (row, column, problem), to fix the file against."""
    kept = request.session.get(REPORT_SESSION_KEY)
    if not kept or kind not in REPORT_TYPES:
        raise Http404
    errors = [RowError(row, column, message) for row, column, message in kept]
    buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    fact_files.write_report(buffer, errors, kind)
    buffer.seek(0)
    filename = f"kaohe-fact-import-problems-{company_today():%Y%m%d}.{kind}"
    return FileResponse(
        buffer, as_attachment=True, filename=filename, content_type=REPORT_TYPES[kind]
    )
