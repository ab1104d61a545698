"""The HR admin's sources: their health, settings, field mapping, webhook secret, pull
connector, and the request log of every delivery."""

import copy
import json
import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.integrations import presets
from kaohe.integrations.actions import (
    do_configure_pull,
    do_create_source,
    do_reset_pull_cursor,
    do_rotate_webhook_secret,
    do_update_source,
)
from kaohe.integrations.health import source_health
from kaohe.integrations.hooks import HEADER
from kaohe.integrations.mapping import MappingInvalid, check_mapping
from kaohe.integrations.models import Channel, Delivery, Outcome, PullConnector, Source
from kaohe.integrations.pull import pull_task
from kaohe.metrics.models import Metric
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.models import is_hr_admin

PAGE_SIZE = 50
MONO = "font-family: ui-monospace, monospace; font-size: .85rem"
NUMBER = {"inputmode": "numeric", "pattern": "[0-9]*"}
MASK = "********"
EMPLOYEES = "employees"  # the mapping table of vendor user id -> employee number


def _require_hr_admin(user) -> None:
    if not is_hr_admin(user):
        raise PermissionDenied


# --- forms ------------------------------------------------------------------------------


def _preset_choices():
    return [("", gettext_lazy("Custom mapping (JSON below)"))] + [
        (p.code, p.label) for p in presets.all_presets()
    ]


class SourceForm(forms.Form):
    code = forms.RegexField(
        label=gettext_lazy("Code"),
        regex=r"^[a-z][a-z0-9_-]{1,39}$",
        help_text=gettext_lazy("Lower-case letters, digits, - and _; used in the webhook URL."),
        error_messages={"invalid": gettext_lazy("Use 2 to 40 lower-case letters, digits, - or _.")},
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    preset = forms.ChoiceField(label=gettext_lazy("Payload format"), required=False)
    mapping = forms.CharField(
        label=gettext_lazy("Field mapping (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "style": MONO}),
    )
    employees = forms.CharField(
        label=gettext_lazy("Vendor user ids that differ from employee numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "style": MONO}),
        help_text=gettext_lazy('One per line: vendor user id, employee number ("manager3451, '
                               'E0003"). Ids not listed are taken as employee numbers.'),
    )  # fmt: skip
    silent_after_hours = forms.IntegerField(
        label=gettext_lazy("Flag as silent after (hours)"),
        required=False,
        min_value=1,
        max_value=24 * 366,
        widget=forms.TextInput(attrs=NUMBER),
        help_text=gettext_lazy("Empty: never flag."),
    )
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args, source: Source | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.source = source
        self.fields["preset"].choices = _preset_choices()
        if source is None:
            del self.fields["active"]
            self.fields["mapping"].help_text = _("Leave empty to start from the payload format.")
        else:
            del self.fields["code"]
            self.fields["preset"].help_text = _(
                "Choosing another payload format replaces the mapping with that format's."
            )

    def clean_mapping(self) -> dict:
        text = self.cleaned_data["mapping"].strip()
        if not text:
            return {}
        try:
            mapping = json.loads(text)
        except ValueError as error:
            line, column = getattr(error, "lineno", 0), getattr(error, "colno", 0)
            message = _("This is not valid JSON (line %(line)s, column %(column)s).")
            raise forms.ValidationError(message % {"line": line, "column": column}) from None
        if not isinstance(mapping, dict):
            raise forms.ValidationError(_("A mapping is a JSON object."))
        return mapping

    def clean_employees(self) -> dict:
        table = {}
        for number, line in enumerate(self.cleaned_data["employees"].splitlines(), 1):
            if not line.strip():
                continue
            parts = [part.strip() for part in re.split(r"[,\t;]|\s+", line.strip(), maxsplit=1)]
            if len(parts) != 2 or not all(parts):
                message = _("Line %(line)s: give a vendor user id and an employee number.")
                raise forms.ValidationError(message % {"line": number})
            table[parts[0]] = parts[1]
        return table

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        mapping = data["mapping"] = self._final_mapping(data)
        if not mapping and self.source is not None and self.source.mapping:
            self.add_error("mapping", _("Give a mapping or choose a payload format."))
        if mapping:
            self._check(mapping)
        return data

    def _check(self, mapping: dict) -> None:
        try:
            check_mapping(mapping)
        except MappingInvalid as invalid:
            for key, message in invalid.errors:
                self.add_error("mapping", f"{key or '(mapping)'}: {message}")

    def _final_mapping(self, data: dict) -> dict:
        preset = data.get("preset") or ""
        switched = self.source is not None and preset and preset != self.source.preset
        mapping = data["mapping"]
        if preset and (switched or not mapping):
            mapping = presets.get(preset).mapping
        return join_employees(mapping, data["employees"]) if mapping else {}


def join_employees(mapping: dict, employees: dict) -> dict:
    mapping = copy.deepcopy(mapping)
    tables = mapping.setdefault("tables", {}) if employees else mapping.get("tables")
    if employees or (tables is not None and EMPLOYEES in tables):
        tables[EMPLOYEES] = employees
    return mapping


def split_employees(mapping: dict) -> tuple[dict, dict]:
    """The mapping with its employee table emptied (edited in its own box), and the table."""
    mapping = copy.deepcopy(mapping or {})
    tables = mapping.get("tables") or {}
    employees = tables.get(EMPLOYEES) or {}
    if EMPLOYEES in tables:
        tables[EMPLOYEES] = {}
    return mapping, employees


class PullForm(forms.Form):
    url = forms.URLField(
        label=gettext_lazy("URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    paging = forms.ChoiceField(
        label=gettext_lazy("Paging"),
        choices=[
            ("cursor", gettext_lazy("cursor: send the next cursor the page gave")),
            ("page", gettext_lazy("page: send 1, 2, 3, ...")),
        ],
    )
    cursor_param = forms.RegexField(
        label=gettext_lazy("Query parameter"),
        regex=r"^[A-Za-z0-9_.\-\[\]]{1,50}$",
        initial="cursor",
    )
    headers = forms.CharField(
        label=gettext_lazy("Request headers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "style": MONO}),
        help_text=gettext_lazy("One per line: Name: value. Stored values are shown masked."),
    )
    every_minutes = forms.IntegerField(
        label=gettext_lazy("Every (minutes)"),
        min_value=1,
        max_value=7 * 24 * 60,
        initial=15,
        widget=forms.TextInput(attrs=NUMBER),
    )
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args, stored: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stored = stored or {}

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.startswith(("http://", "https://")):
            raise forms.ValidationError(_("Give an http:// or https:// address."))
        return url

    def clean_headers(self) -> dict:
        headers = {}
        for number, line in enumerate(self.cleaned_data["headers"].splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                message = _("Line %(line)s: write Name: value.")
                raise forms.ValidationError(message % {"line": number})
            name, value = name.strip(), value.strip()
            headers[name] = self.stored.get(name, "") if value == MASK else value
        return headers


def masked_headers(headers: dict) -> str:
    return "\n".join(f"{name}: {MASK}" for name in headers)


# --- sources ----------------------------------------------------------------------------


def _metrics_by_source() -> dict[str, list[Metric]]:
    fed: dict[str, list[Metric]] = {}
    for metric in Metric.objects.filter(active=True).only("code", "name_zh", "name_en", "sources"):
        for code in metric.sources or []:
            fed.setdefault(code, []).append(metric)
    return fed


@login_required
def source_list(request):
    _require_hr_admin(request.user)
    fed = _metrics_by_source()
    rows = [(health, fed.get(health.source.code, [])) for health in source_health()]
    return render(request, "front/source_list.html", {"rows": rows})


@login_required
def source_new(request):
    _require_hr_admin(request.user)
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            source = do_create_source(
                request.user, data["code"], data["name"], preset=data["preset"],
                mapping=data["mapping"], silent_after_hours=data["silent_after_hours"],
            )  # fmt: skip
        except FieldErrors as invalid:
            for name, message in invalid.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, _("Source %(code)s created.") % {"code": source.code})
            return redirect("front:source_detail", code=source.code)
    return render(
        request, "front/source_new.html", {"form": form, "presets": presets.all_presets()}
    )


def _source_form(source: Source, data=None) -> SourceForm:
    mapping, employees = split_employees(source.mapping)
    initial = {
        "name": source.name,
        "preset": source.preset,
        "mapping": json.dumps(mapping, ensure_ascii=False, indent=2) if mapping else "",
        "employees": "\n".join(f"{vendor}, {number}" for vendor, number in employees.items()),
        "silent_after_hours": source.silent_after_hours,
        "active": source.active,
    }
    return SourceForm(data, initial=initial, source=source)


def _pull_form(source: Source, data=None) -> PullForm:
    connector = PullConnector.objects.filter(source=source).first()
    if connector is None:
        return PullForm(data)
    initial = {
        "url": connector.url,
        "paging": connector.paging,
        "cursor_param": connector.cursor_param,
        "headers": masked_headers(connector.headers),
        "every_minutes": connector.every_minutes,
        "active": connector.active,
    }
    return PullForm(data, initial=initial, stored=connector.headers)


def _detail(request, source: Source, **context):
    [health] = source_health(sources=Source.objects.filter(pk=source.pk))
    context.setdefault("form", _source_form(source))
    context.setdefault("pull_form", _pull_form(source))
    context.update(
        source=source,
        health=health,
        preset=presets.get(source.preset) if source.preset else None,
        metrics=_metrics_by_source().get(source.code, []),
        hook_url=settings.SITE_URL + reverse("api:receive", kwargs={"source": source.code}),
        header=HEADER,
        deliveries=source.deliveries.order_by("-received_at", "-id")[:10],
    )
    response = render(request, "front/source_detail.html", context)
    if context.get("secret"):
        response["Cache-Control"] = "no-store"  # the one page that ever holds the secret
    return response


@login_required
def source_detail(request, code: str):
    _require_hr_admin(request.user)
    source = get_object_or_404(Source, code=code)
    if request.method != "POST":
        return _detail(request, source)
    form = _source_form(source, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            do_update_source(
                request.user, source, name=data["name"], preset=data["preset"],
                mapping=data["mapping"], silent_after_hours=data["silent_after_hours"],
                active=data["active"],
            )  # fmt: skip
        except FieldErrors as invalid:
            for name, message in invalid.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, _("Source %(code)s saved.") % {"code": source.code})
            return redirect("front:source_detail", code=source.code)
    return _detail(request, source, form=form)


@login_required
@require_POST
def rotate_secret(request, code: str):
    _require_hr_admin(request.user)
    source = get_object_or_404(Source, code=code)
    secret = do_rotate_webhook_secret(request.user, source)
    return _detail(request, source, secret=secret)


@login_required
@require_POST
def pull_settings(request, code: str):
    _require_hr_admin(request.user)
    source = get_object_or_404(Source, code=code)
    form = _pull_form(source, request.POST)
    if form.is_valid():
        try:
            do_configure_pull(request.user, source, **form.cleaned_data)
        except FieldErrors as invalid:
            for name, message in invalid.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, _("Pull connector saved."))
            return redirect(reverse("front:source_detail", args=[code]) + "#pull")
    return _detail(request, source, pull_form=form)


@login_required
@require_POST
def pull_now(request, code: str):
    _require_hr_admin(request.user)
    connector = get_object_or_404(PullConnector, source__code=code)
    pull_task.enqueue(connector.pk)
    messages.success(request, _("A pull run is queued; the request log shows what it fetched."))
    return redirect(reverse("front:source_detail", args=[code]) + "#pull")


@login_required
@require_POST
def pull_reset(request, code: str):
    _require_hr_admin(request.user)
    connector = get_object_or_404(PullConnector, source__code=code)
    try:
        do_reset_pull_cursor(request.user, connector)
    except ActionError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, _("The next run starts from the first page."))
    return redirect(reverse("front:source_detail", args=[code]) + "#pull")


# --- the request log --------------------------------------------------------------------


class DeliveryFilter(forms.Form):
    source = forms.CharField(label=gettext_lazy("Source"), required=False, max_length=40)
    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"), required=False,
        choices=[("", gettext_lazy("all")), *Outcome.choices],
    )  # fmt: skip
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"), required=False,
        choices=[("", gettext_lazy("all")), *Channel.choices],
    )  # fmt: skip
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def _filtered(data: dict):
    rows = Delivery.objects.select_related("source").defer("rejections")
    if data.get("source"):
        rows = rows.filter(source_code=data["source"].strip())
    if data.get("outcome"):
        rows = rows.filter(outcome=data["outcome"])
    if data.get("channel"):
        rows = rows.filter(channel=data["channel"])
    if data.get("before"):
        rows = rows.filter(id__lt=data["before"])
    return rows.order_by("-id")


@login_required
def delivery_list(request):
    _require_hr_admin(request.user)
    form = DeliveryFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = list(_filtered(data)[: PAGE_SIZE + 1])
    next_before = page[PAGE_SIZE - 1].id if len(page) > PAGE_SIZE else None
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "deliveries": page[:PAGE_SIZE],
        "next_before": next_before,
        "querystring": query.urlencode(),
        "codes": Source.objects.values_list("code", flat=True),
    }
    return render(request, "front/delivery_list.html", context)


@login_required
def delivery_detail(request, delivery_id: int):
    _require_hr_admin(request.user)
    delivery = get_object_or_404(Delivery.objects.select_related("source"), pk=delivery_id)
    return render(request, "front/delivery_detail.html", {"delivery": delivery})
