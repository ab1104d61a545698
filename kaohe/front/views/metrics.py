"""Metric definitions: HR reads the list; the HR admin creates and changes them."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.metrics.actions import FieldErrors, do_save_metric
from kaohe.metrics.models import VALUE_PLACES, Aggregation, Direction, Metric, Unit
from kaohe.org.models import is_hr_admin, roles_of


class MetricForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=50,
        help_text=gettext_lazy(
            "Lowercase letters, digits and _; what sources send. Fixed once saved."
        ),
    )
    name_zh = forms.CharField(label=gettext_lazy("Name (Chinese)"), max_length=100)
    name_en = forms.CharField(label=gettext_lazy("Name (English)"), max_length=100)
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=Unit.choices)
    aggregation = forms.ChoiceField(label=gettext_lazy("Aggregation"), choices=Aggregation.choices)
    direction = forms.ChoiceField(label=gettext_lazy("Direction"), choices=Direction.choices)
    numerator = forms.ChoiceField(label=gettext_lazy("Numerator (ratios only)"), required=False)
    denominator = forms.ChoiceField(label=gettext_lazy("Denominator (ratios only)"), required=False)
    sources = forms.CharField(
        label=gettext_lazy("Sources allowed to send facts"),
        required=False,
        max_length=500,
        help_text=gettext_lazy("Source codes separated by spaces or commas; empty: any source."),
    )
    decimal_places = forms.TypedChoiceField(
        label=gettext_lazy("Decimal places shown"),
        choices=[(str(n), str(n)) for n in range(VALUE_PLACES + 1)],
        coerce=int,
        initial="2",
    )
    active = forms.BooleanField(label=gettext_lazy("In use"), required=False, initial=True)

    def __init__(self, *args, metric: Metric | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        parts = Metric.objects.exclude(aggregation=Aggregation.RATIO)
        if metric is not None:
            parts = parts.exclude(pk=metric.pk)
            self.fields["code"].disabled = True
        choices = [("", "—"), *((m.code, f"{m.name_zh} ({m.code})") for m in parts)]
        self.fields["numerator"].choices = self.fields["denominator"].choices = choices

    def data_for_action(self) -> dict:
        data = dict(self.cleaned_data)
        data["sources"] = data["sources"].replace(",", " ").split()
        data["numerator"] = data["numerator"] or None
        data["denominator"] = data["denominator"] or None
        return data


def _initial(metric: Metric) -> dict:
    return {
        "code": metric.code,
        "name_zh": metric.name_zh,
        "name_en": metric.name_en,
        "unit": metric.unit,
        "aggregation": metric.aggregation,
        "direction": metric.direction,
        "numerator": metric.numerator.code if metric.numerator_id else "",
        "denominator": metric.denominator.code if metric.denominator_id else "",
        "sources": " ".join(metric.sources),
        "decimal_places": str(metric.decimal_places),
        "active": metric.active,
    }


@login_required
def metric_list(request):
    """Every metric definition, for anyone with an HR, admin or auditor role."""
    if not roles_of(request.user):
        raise PermissionDenied
    metrics = Metric.objects.select_related("numerator", "denominator").order_by("code")
    context = {"metrics": metrics, "can_edit": is_hr_admin(request.user)}
    return render(request, "front/metric_list.html", context)


@login_required
def metric_edit(request, code: str | None = None):
    if not is_hr_admin(request.user):
        raise PermissionDenied
    metric = None
    if code is not None:
        metric = get_object_or_404(Metric.objects.select_related("numerator", "denominator"),
                                   code=code)  # fmt: skip
    initial = _initial(metric) if metric else None
    form = MetricForm(request.POST or None, initial=initial, metric=metric)
    if request.method == "POST" and form.is_valid():
        data = form.data_for_action()
        if metric is not None:
            data.pop("code")
        try:
            saved = do_save_metric(request.user, data, metric)
        except FieldErrors as exc:
            for name, message in exc.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, _("Metric %(code)s saved.") % {"code": saved.code})
            return redirect("front:metric_list")
    return render(request, "front/metric_form.html", {"form": form, "metric": metric})
