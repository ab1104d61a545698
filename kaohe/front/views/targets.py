"""Target agreements (业绩目标责任书) and attainment pages.

Who sees what: anyone who may see the employee (`visible_to`) reads their agreements and
attainment; HR of their unit and their managers (`employees_targetable_by`) draft, publish
and revise them, never the employee herself. Drafts and their notes are work in progress:
only those who may edit them see them; the employee and other readers see what was
published (in force or superseded), and an agreement with nothing published yet not at all.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.front.templatetags.targets import attainment_context, metric_name
from kaohe.lib.periods import Period, PeriodError, PeriodKind
from kaohe.metrics.actions import (
    ActionError,
    BulkAssignError,
    FieldErrors,
    ItemSpec,
    decimal_text,
    do_bulk_assign,
    do_discard_draft,
    do_draft_agreement,
    do_publish_agreement,
    do_revise_agreement,
    do_set_items,
    employees_targetable_by,
    may_set_targets,
)
from kaohe.metrics.models import (
    AgreementItem,
    AgreementState,
    AgreementVersion,
    Metric,
    TargetAgreement,
)
from kaohe.org.actions import company_today
from kaohe.org.models import Employee, EmploymentStatus, OrgUnit, is_hr, units_visible_to
from kaohe.signing.tasks import issue_agreements

EXTRA_ROWS = 3
MAX_BULK = 2000


# --- the rows of an agreement's items ---------------------------------------------------------


class ItemForm(forms.Form):
    """One weighted metric; the monthly split fields exist for periods longer than a month."""

    metric = forms.ChoiceField(label=gettext_lazy("Metric"), required=False)
    target = forms.CharField(label=gettext_lazy("Target"), max_length=40, required=False)
    weight = forms.CharField(label=gettext_lazy("Weight (%)"), max_length=10, required=False)

    def __init__(self, *args, metric_choices=(), months=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = [("", "—"), *metric_choices]
        self.months = list(months)
        for month in self.months:
            self.fields[month_field(month)] = forms.CharField(
                label=month.strftime("%Y-%m"), max_length=40, required=False
            )

    def month_fields(self):
        return [self[month_field(month)] for month in self.months]


def month_field(month) -> str:
    return f"month_{month:%Y_%m}"


ItemFormSet = forms.formset_factory(ItemForm, extra=EXTRA_ROWS, max_num=30, validate_max=True)


def metric_choices() -> tuple[dict[str, Metric], list[tuple[str, str]]]:
    metrics = {m.code: m for m in Metric.objects.filter(active=True).order_by("code")}
    return metrics, [(code, f"{m.name_zh} · {m.name_en}") for code, m in metrics.items()]


def split_months(period: Period) -> list:
    return [] if period.kind == PeriodKind.MONTH else period.months


def item_initial(item: AgreementItem, months) -> dict:
    initial = {
        "metric": item.metric.code,
        "target": decimal_text(item.target),
        "weight": decimal_text(item.weight),
    }
    for month in months:
        initial[month_field(month)] = item.monthly.get(month.strftime("%Y-%m"), "")
    return initial


def item_formset(data, period: Period, items=(), prefix="items", split=True):
    metrics, choices = metric_choices()
    months = split_months(period) if split else []
    formset = ItemFormSet(
        data,
        initial=[item_initial(item, months) for item in items] or None,
        prefix=prefix,
        form_kwargs={"metric_choices": choices, "months": months},
    )
    formset.metrics = metrics
    return formset


def specs_from(formset) -> tuple[list[ItemSpec], list]:
    """The filled rows as ItemSpecs, and the form of each (to put errors back)."""
    specs, forms_used = [], []
    for form in formset:
        code = form.cleaned_data.get("metric")
        if not code:
            continue
        monthly = {
            month.strftime("%Y-%m"): form.cleaned_data[month_field(month)].strip()
            for month in form.months
            if form.cleaned_data.get(month_field(month), "").strip()
        }
        specs.append(
            ItemSpec(
                formset.metrics[code],
                form.cleaned_data["target"],
                form.cleaned_data["weight"] or "0",
                monthly or None,
            )
        )
        forms_used.append(form)
    return specs, forms_used


def errors_to_forms(errors: dict[str, str], forms_used: list, formset) -> None:
    """Puts "items.<n>.<field>" errors of an action onto the row that sent item n."""
    for key, message in errors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit():
            form = forms_used[int(parts[1])]
            field = parts[2] if parts[2] in ("metric", "target", "weight") else None
            form.add_error(field, message)
        else:
            formset._non_form_errors = [*formset.non_form_errors(), message]


# --- an employee's agreements -----------------------------------------------------------------


def visible_employee(user, employee_no: str) -> Employee:
    people = Employee.objects.visible_to(user).select_related("org_unit", "manager")
    return get_object_or_404(people, employee_no=employee_no)


def period_choices(today) -> list[Period]:
    """The periods offered for a new agreement: this and the next month, quarter, year."""
    choices = []
    for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.HALF, PeriodKind.YEAR):
        current = Period.containing(kind, today)
        choices += [current, current.next()]
    return choices


class NewAgreementForm(forms.Form):
    period = forms.CharField(label=gettext_lazy("Period"), max_length=7)

    def clean_period(self):
        try:
            return Period.parse(self.cleaned_data["period"])
        except PeriodError:
            raise forms.ValidationError(
                _("Use a period such as 2026-01, 2026-Q1, 2026-H1 or 2026.")
            ) from None


@login_required
def agreements(request, employee_no: str):
    """The employee's agreements, newest period first; setters start a new one here."""
    employee = visible_employee(request.user, employee_no)
    can_edit = may_set_targets(request.user, employee)
    form = NewAgreementForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            period = form.cleaned_data["period"]
            try:
                do_draft_agreement(request.user, employee, period)
            except ActionError as exc:
                messages.error(request, str(exc))
            return redirect("front:agreement", employee.employee_no, period.label)
    rows = (
        TargetAgreement.objects.filter(employee=employee)
        .select_related("in_force")
        .order_by("-period_start", "period_kind")
    )
    if can_edit:
        rows = rows.prefetch_related(Prefetch("versions", queryset=_drafts(), to_attr="drafts"))
    else:
        rows = rows.filter(in_force__isnull=False)
    context = {
        "employee": employee,
        "agreements": [(agreement_period(a), a) for a in rows],
        "can_edit": can_edit,
        "form": form,
        "periods": period_choices(company_today()),
    }
    return render(request, "front/agreement_list.html", context)


def _drafts():
    return AgreementVersion.objects.filter(state=AgreementState.DRAFT)


def agreement_period(agreement: TargetAgreement) -> Period:
    return Period(agreement.period_start, PeriodKind(agreement.period_kind))


def _agreement(employee: Employee, label: str) -> tuple[Period, TargetAgreement | None]:
    try:
        period = Period.parse(label)
    except PeriodError:
        raise Http404 from None
    agreement = TargetAgreement.objects.filter(
        employee=employee, period_kind=period.kind.value, period_start=period.start
    ).first()
    return period, agreement


@login_required
def agreement(request, employee_no: str, period: str):
    """One agreement: what is in force, every version, and for those who may edit it the
    draft; for anyone else an agreement with nothing published yet does not exist."""
    employee = visible_employee(request.user, employee_no)
    period_, found = _agreement(employee, period)
    if found is None:
        raise Http404
    can_edit = may_set_targets(request.user, employee)
    shown = found.versions.select_related("created_by", "published_by")
    if not can_edit:
        shown = shown.exclude(state=AgreementState.DRAFT)
    items = Prefetch("items", AgreementItem.objects.select_related("metric"))
    versions = list(shown.prefetch_related(items).order_by("number"))
    if not versions:
        raise Http404  # nothing published yet, and a draft is not this reader's to see
    draft = next((v for v in versions if v.state == AgreementState.DRAFT), None)
    formset = None
    if draft is not None and can_edit:
        if request.method == "POST":
            formset = item_formset(request.POST, period_)
            if _save_items(request, formset, draft):
                messages.success(request, _("The draft is saved."))
                return redirect("front:agreement", employee.employee_no, period_.label)
        else:
            formset = item_formset(None, period_, draft.items.all())
    elif request.method == "POST":
        raise PermissionDenied
    context = {
        "employee": employee,
        "period": period_,
        "agreement": found,
        "in_force": next((v for v in versions if v.pk == found.in_force_id), None),
        "draft": draft,
        "history": _history(versions),
        "can_edit": can_edit,
        "formset": formset,
    }
    return render(request, "front/agreement_detail.html", context)


def _save_items(request, formset, draft) -> bool:
    if not formset.is_valid():
        return False
    specs, forms_used = specs_from(formset)
    try:
        do_set_items(request.user, draft, specs)
    except FieldErrors as exc:
        errors_to_forms(exc.errors, forms_used, formset)
        return False
    except ActionError as exc:
        formset._non_form_errors = [*formset.non_form_errors(), str(exc)]
        return False
    return True


def _history(versions) -> list[tuple]:
    """Each version with what changed from the one before it, newest first."""
    rows, previous = [], {}
    for version in versions:
        items = {item.metric.code: item for item in version.items.all()}
        rows.append((version, _changes(previous, items)))
        previous = items
    return rows[::-1]


def _changes(before: dict, after: dict) -> list[str]:
    changes = []
    for code in sorted(set(before) | set(after)):
        old, new = before.get(code), after.get(code)
        name = metric_name((new or old).metric)
        if old is None:
            changes.append(
                _("%(metric)s added: target %(target)s, weight %(weight)s%%")
                % {
                    "metric": name,
                    "target": decimal_text(new.target),
                    "weight": decimal_text(new.weight),
                }
            )
        elif new is None:
            changes.append(_("%(metric)s removed") % {"metric": name})
        else:
            changes += _item_changes(name, old, new)
    return changes


def _item_changes(name: str, old, new) -> list[str]:
    changes = []
    if old.target != new.target:
        changes.append(
            _("%(metric)s: target %(old)s → %(new)s")
            % {"metric": name, "old": decimal_text(old.target), "new": decimal_text(new.target)}
        )
    if old.weight != new.weight:
        changes.append(
            _("%(metric)s: weight %(old)s%% → %(new)s%%")
            % {"metric": name, "old": decimal_text(old.weight), "new": decimal_text(new.weight)}
        )
    if old.monthly != new.monthly:
        changes.append(_("%(metric)s: monthly split changed") % {"metric": name})
    return changes


def _version_action(request, employee_no: str, period: str):
    employee = visible_employee(request.user, employee_no)
    period_, found = _agreement(employee, period)
    if found is None:
        raise Http404
    if not may_set_targets(request.user, employee):
        raise PermissionDenied
    return employee, period_, found


def _back(employee, period):
    return redirect("front:agreement", employee.employee_no, period.label)


@login_required
@require_POST
def publish(request, employee_no: str, period: str):
    employee, period_, found = _version_action(request, employee_no, period)
    draft = found.versions.filter(state=AgreementState.DRAFT).first()
    if draft is None:
        messages.error(request, _("There is no draft to publish."))
        return _back(employee, period_)
    try:
        do_publish_agreement(request.user, draft)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        transaction.on_commit(issue_agreements.enqueue)
        messages.success(
            request,
            _("Version %(number)s is in force; it has been sent to the employee to sign.")
            % {"number": draft.number},
        )
    return _back(employee, period_)


@login_required
@require_POST
def revise(request, employee_no: str, period: str):
    employee, period_, found = _version_action(request, employee_no, period)
    try:
        do_revise_agreement(request.user, found, request.POST.get("note", ""))
    except ActionError as exc:
        messages.error(request, _message(exc))
    return _back(employee, period_)


@login_required
@require_POST
def discard(request, employee_no: str, period: str):
    employee, period_, found = _version_action(request, employee_no, period)
    draft = found.versions.filter(state=AgreementState.DRAFT).first()
    if draft is not None:
        in_force = found.in_force_id is not None
        do_discard_draft(request.user, draft)
        messages.success(request, _("The draft is discarded."))
        if not in_force:
            return redirect("front:agreements", employee.employee_no)
    return _back(employee, period_)


def _message(exc: Exception) -> str:
    if isinstance(exc, FieldErrors):
        return " ".join(exc.errors.values())
    return str(exc)


# --- attainment -------------------------------------------------------------------------------


@login_required
def employee_attainment(request, employee_no: str):
    """The attainment section of the employee page, for another period (htmx)."""
    employee = visible_employee(request.user, employee_no)
    context = attainment_context(request, employee)
    return render(request, "front/_attainment.html", context)


@login_required
def my_attainment(request):
    employee = getattr(request.user, "employee", None)
    if employee is None:
        raise Http404
    context = attainment_context(request, employee, mine=True)
    return render(request, "front/_attainment.html", context)


# --- many employees at once -------------------------------------------------------------------


class BulkForm(forms.Form):
    period = forms.CharField(
        label=gettext_lazy("Period"),
        max_length=7,
        widget=forms.TextInput(attrs={"placeholder": "2026-Q1"}),
        help_text=gettext_lazy(
            "A month (2026-01), a quarter (2026-Q1), a half-year (2026-H1) or a year (2026)."
        ),
    )
    unit = forms.ChoiceField(label=gettext_lazy("Everyone in the org unit"), required=False)
    numbers = forms.CharField(
        label=gettext_lazy("Or these employee numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Separated by spaces, commas or new lines."),
    )
    publish = forms.BooleanField(label=gettext_lazy("Publish at once"), required=False)
    note = forms.CharField(
        label=gettext_lazy("Reason for the change"),
        max_length=500,
        required=False,
        help_text=gettext_lazy("Needed where an agreement is already in force."),
    )

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].choices = [("", "—"), *((u.code, u.name) for u in units)]

    def clean_period(self):
        return NewAgreementForm.clean_period(self)

    def clean(self):
        data = super().clean()
        if not data.get("unit") and not (data.get("numbers") or "").strip():
            raise forms.ValidationError(_("Choose an org unit or list employee numbers."))
        return data


def _bulk_people(user, data) -> tuple[list[Employee], list[str]]:
    """The chosen employees within the user's reach, and the numbers not found there."""
    reach = employees_targetable_by(user).exclude(status=EmploymentStatus.TERMINATED)
    if data.get("unit"):
        unit = OrgUnit.objects.filter(code=data["unit"]).first()
        chosen = list(reach.filter(unit.descendants_q("org_unit__"))) if unit else []
        return sorted(chosen, key=lambda e: e.employee_no), []
    numbers = {n for n in data["numbers"].replace(",", " ").split() if n}
    found = {e.employee_no: e for e in reach.filter(employee_no__in=numbers)}
    return [found[n] for n in sorted(found)], sorted(numbers - set(found))


@login_required
def bulk_assign(request):
    """HR gives many employees the same targets in one go, all or nothing."""
    if not is_hr(request.user):
        raise PermissionDenied
    units = units_visible_to(request.user).order_by("path")
    form = BulkForm(request.POST or None, units=units)
    period = form.cleaned_data["period"] if form.is_bound and form.is_valid() else None
    formset = item_formset(request.POST or None, period or _default_period(), split=False)
    refusals: dict[str, str] = {}
    if request.method == "POST" and period is not None and formset.is_valid():
        people, missing = _bulk_people(request.user, form.cleaned_data)
        refusals = {n: _("There is no such employee within your reach.") for n in missing}
        if not refusals and len(people) > MAX_BULK:
            form.add_error(None, _("Choose at most %(max)s employees.") % {"max": MAX_BULK})
        elif not refusals:
            done = _bulk_apply(request, form, formset, people, period, refusals)
            if done:
                return redirect("front:bulk_assign")
    context = {"form": form, "formset": formset, "refusals": sorted(refusals.items())}
    return render(request, "front/targets_bulk.html", context)


def _default_period() -> Period:
    return Period.containing(PeriodKind.QUARTER, company_today())


def _bulk_apply(request, form, formset, people, period, refusals) -> bool:
    specs, forms_used = specs_from(formset)
    if not specs:
        formset._non_form_errors = [*formset.non_form_errors(), _("Add at least one metric.")]
        return False
    data = form.cleaned_data
    try:
        do_bulk_assign(
            request.user, people, period, specs, publish=data["publish"], note=data["note"]
        )
    except BulkAssignError as exc:
        refusals.update(exc.reasons)
        return False
    except FieldErrors as exc:
        errors_to_forms(exc.errors, forms_used, formset)
        return False
    except ActionError as exc:
        form.add_error(None, str(exc))
        return False
    if data["publish"]:
        transaction.on_commit(issue_agreements.enqueue)
    messages.success(
        request,
        _("Targets for %(period)s assigned to %(count)s employees.")
        % {"period": period.label, "count": len(people)},
    )
    return True
