"""The evidence ledger in the browser: the auditor's search, one entry with its proof, and
an employee's own entries."""

import datetime as dt
import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy

from kaohe.ledger import proofs
from kaohe.ledger.models import Checkpoint
from kaohe.org.evidence import entries_about, entries_visible_to, may_audit

PAGE_SIZE = 50


class SearchForm(forms.Form):
    employee = forms.CharField(label=gettext_lazy("Employee number"), required=False, max_length=32)
    kind = forms.CharField(label=gettext_lazy("Kind"), required=False, max_length=64)
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=gettext_lazy("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


def _search(entries, data: dict):
    if data.get("employee"):
        entries = entries.filter(employee_no=data["employee"].strip())
    if data.get("kind"):
        entries = entries.filter(kind__startswith=data["kind"].strip())
    if data.get("date_from"):
        entries = entries.filter(at__date__gte=data["date_from"])
    if data.get("date_to"):
        entries = entries.filter(at__date__lte=data["date_to"])
    if data.get("before") is not None:
        entries = entries.filter(index__lt=data["before"])
    return entries.defer("body").order_by("-index")


def _page(entries) -> tuple[list, int | None]:
    """One page, newest first, and the index to continue before (keyset paging)."""
    rows = list(entries[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].index if more else None)


@login_required
def audit_log(request):
    if not may_audit(request.user):
        raise PermissionDenied
    form = SearchForm(request.GET or None)
    form.is_valid()
    # A search field that does not validate shows its error and no rows: dropping it would
    # list more than was asked for. A bad page position (hidden) starts from the newest.
    if form.errors.keys() - {"before"}:
        rows, next_before = [], None
    else:
        data = getattr(form, "cleaned_data", {})
        rows, next_before = _page(_search(entries_visible_to(request.user), data))
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "entries": rows,
        "next_before": next_before,
        "querystring": query.urlencode(),
        "checkpoints": Checkpoint.objects.order_by("-tree_size", "-created_at")[:5],
    }
    return render(request, "front/audit_log.html", context)


@login_required
def my_evidence(request):
    rows, next_before = _page(_search(entries_about(request.user), _before(request)))
    context = {"entries": rows, "next_before": next_before, "querystring": ""}
    return render(request, "front/my_evidence.html", context)


def _before(request) -> dict:
    try:
        return {"before": max(0, int(request.GET["before"]))}
    except (KeyError, ValueError):
        return {}


@login_required
def entry_detail(request, index: int):
    entry = get_object_or_404(entries_visible_to(request.user), index=index)
    body = json.loads(entry.body)
    covering = Checkpoint.objects.filter(tree_size__gt=index).order_by("tree_size").first()
    context = {
        "entry": entry,
        "pretty": json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True),
        "leaf_hash": bytes(entry.leaf_hash).hex(),
        "checkpoint": covering,
        "recorded_at": dt.datetime.fromisoformat(body["at"].replace("Z", "+00:00")),
    }
    return render(request, "front/entry_detail.html", context)


@login_required
def entry_proof(request, index: int):
    """The entry with its inclusion proof and checkpoint, for `kaohe verify` offline."""
    entry = get_object_or_404(entries_visible_to(request.user), index=index)
    document = proofs.inclusion(entry.index)
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = f'attachment; filename="kaohe-proof-{index}.json"'
    return response
