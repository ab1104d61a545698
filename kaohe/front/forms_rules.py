"""The warning rule form: one set of parameters per kind, scope, recipients, channels,
cooldown, escalation and active dates; what it yields goes to `do_save_rule` as it is."""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.alerts.kinds import ParamError, Spec, check_params
from kaohe.alerts.models import Kind, Level, Rule
from kaohe.lib.periods import PeriodKind
from kaohe.lib.workdays import CALENDAR, WORKING
from kaohe.metrics.models import Metric
from kaohe.notify.models import Robot
from kaohe.org.models import OrgUnit

# Which form fields hold the parameters of each kind, and their defaults.
KIND_PARAMS = {
    Kind.ATTAINMENT: ("metric", "threshold", "periods", "period_kind"),
    Kind.UNCONFIRMED: ("days", "day_kind"),
    Kind.PIP_OVERDUE: ("days", "day_kind"),
    Kind.SOURCE_SILENT: ("hours",),
    Kind.CUSTOM: ("expression",),
}
KIND_DEFAULTS = {
    Kind.ATTAINMENT: {"threshold": "80", "periods": 2, "period_kind": PeriodKind.MONTH},
    Kind.UNCONFIRMED: {"days": 3, "day_kind": WORKING},
    Kind.PIP_OVERDUE: {"days": 10, "day_kind": WORKING},
    Kind.SOURCE_SILENT: {"hours": 24},
    Kind.CUSTOM: {},
}
# Codes the rule pages use as paths.
RESERVED_CODES = {"new", "preview"}
MANAGER_LEVELS = [(str(n), str(n)) for n in range(6)]
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _number() -> forms.TextInput:
    """A whole number typed on a phone's digit pad, as wide as the other inputs."""
    return forms.TextInput(attrs={"inputmode": "numeric"})


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,，;；]+", text or "") if word]


class RuleForm(forms.Form):
    code = forms.SlugField(
        label=gettext_lazy("Code"),
        max_length=50,
        help_text=gettext_lazy("Letters, digits, - and _; fixed once saved."),
    )
    name = forms.CharField(label=gettext_lazy("Rule name"), max_length=200)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Kind.choices)
    level = forms.ChoiceField(label=gettext_lazy("Level"), choices=Level.choices)
    # The kinds' parameters (only the chosen kind's are shown and sent).
    metric = forms.ChoiceField(label=gettext_lazy("Metric"), required=False)
    threshold = forms.CharField(
        label=gettext_lazy("Threshold (percent of target)"), required=False, max_length=20
    )
    periods = forms.IntegerField(
        label=gettext_lazy("Consecutive periods"), required=False, widget=_number()
    )
    period_kind = forms.ChoiceField(
        label=gettext_lazy("Periods"),
        choices=[(PeriodKind.MONTH, gettext_lazy("months")),
                 (PeriodKind.QUARTER, gettext_lazy("quarters"))],
        required=False,
    )  # fmt: skip
    days = forms.IntegerField(label=gettext_lazy("Days"), required=False, widget=_number())
    day_kind = forms.ChoiceField(
        label=gettext_lazy("Counted in"),
        choices=[(WORKING, gettext_lazy("working days")),
                 (CALENDAR, gettext_lazy("calendar days"))],
        required=False,
    )  # fmt: skip
    hours = forms.IntegerField(
        label=gettext_lazy("Hours without data"), required=False, widget=_number()
    )
    expression = forms.CharField(
        label=gettext_lazy("Expression"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    # Whom it watches.
    scope_units = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Org units"),
        queryset=OrgUnit.objects.order_by("path"),
        to_field_name="code",
        required=False,
        help_text=gettext_lazy("The units below them are included; none: the whole company."),
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    scope_positions = forms.CharField(
        label=gettext_lazy("Positions"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Separated by commas; empty: every position."),
    )
    # Whom it tells.
    recipient_hr = forms.BooleanField(label=gettext_lazy("HR partner of the unit"), required=False)
    recipient_managers = forms.TypedChoiceField(
        label=gettext_lazy("Manager levels"),
        choices=MANAGER_LEVELS,
        coerce=int,
        help_text=gettext_lazy("0: none; 1: the line manager; 2: also the manager's manager; …"),
    )
    recipient_employee = forms.BooleanField(label=gettext_lazy("The employee"), required=False)
    recipient_users = forms.CharField(
        label=gettext_lazy("Named people (login names)"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Separated by spaces or commas."),
    )
    channels = forms.MultipleChoiceField(
        label=gettext_lazy("Channels"), widget=forms.CheckboxSelectMultiple
    )
    cooldown_days = forms.IntegerField(
        label=gettext_lazy("Cooldown (days)"),
        min_value=0,
        max_value=3650,
        widget=_number(),
        help_text=gettext_lazy("After an alert about someone is resolved, none again for so long."),
    )
    escalate_after_days = forms.IntegerField(
        label=gettext_lazy("Escalate when not acknowledged after (days)"),
        min_value=1,
        max_value=365,
        required=False,
        widget=_number(),
        help_text=gettext_lazy("Empty: never escalate."),
    )
    escalate_to = forms.ChoiceField(
        label=gettext_lazy("Escalate to level"),
        choices=[("", gettext_lazy("keep the level")), *Level.choices],
        required=False,
    )
    escalate_managers = forms.TypedChoiceField(
        label=gettext_lazy("Tell more manager levels"), choices=MANAGER_LEVELS, coerce=int
    )
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False)
    active_from = forms.DateField(label=gettext_lazy("Active from"), required=False, widget=DATE)
    active_until = forms.DateField(label=gettext_lazy("Active until"), required=False, widget=DATE)

    def __init__(self, *args, rule: Rule | None = None, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule = rule
        metrics = Metric.objects.filter(active=True).order_by("code")
        self.fields["metric"].choices = [
            ("", _("Weighted score")),
            *((m.code, f"{m.name_zh} ({m.code})") for m in metrics),
        ]
        self.fields["channels"].choices = channel_choices(rule)
        if rule is not None:
            self.fields["code"].disabled = True
        self.kind = self._chosen_kind(kind)

    def _chosen_kind(self, kind: str | None) -> str:
        if self.is_bound:
            kind = self.data.get("kind")
        kind = kind or self.initial.get("kind") or Kind.ATTAINMENT
        return kind if kind in Kind.values else Kind.ATTAINMENT

    @property
    def kind_value(self) -> str:
        return self.kind

    def param_fields(self) -> list:
        return [self[name] for name in KIND_PARAMS[self.kind]]

    def clean_code(self):
        code = self.cleaned_data["code"]
        if self.rule is None and code.lower() in RESERVED_CODES:
            raise forms.ValidationError(_("This code is reserved; choose another."))
        return code

    def clean_recipient_users(self):
        names = _words(self.cleaned_data["recipient_users"])
        users = get_user_model().objects.filter(username__in=names, is_active=True)
        found = {user.username: user.pk for user in users}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise forms.ValidationError(
                _("No active account is called %(names)s.") % {"names": ", ".join(unknown)}
            )
        return [found[name] for name in names]

    def clean(self):
        cleaned = super().clean()
        try:
            check_params(self.kind, self.params())
        except ParamError as fault:
            for name, message in fault.errors.items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, message)
        return cleaned

    def params(self) -> dict:
        values = {name: self.cleaned_data.get(name) for name in KIND_PARAMS[self.kind]}
        return {name: value for name, value in values.items() if value not in (None, "")}

    def spec(self) -> Spec:
        units = self.cleaned_data.get("scope_units") or []
        positions = _words(self.cleaned_data.get("scope_positions", ""))
        return Spec(self.kind, self.params(), [unit.pk for unit in units], positions)

    def data_for_action(self) -> dict:
        data = self.cleaned_data
        return {
            "code": self.rule.code if self.rule else data["code"],
            "name": data["name"],
            "kind": self.kind,
            "params": self.params(),
            "level": data["level"],
            "scope_positions": _words(data["scope_positions"]),
            "recipients": {
                "hr": data["recipient_hr"],
                "managers": data["recipient_managers"],
                "employee": data["recipient_employee"],
                "users": data["recipient_users"],
            },
            "channels": data["channels"],
            "cooldown_days": data["cooldown_days"],
            "escalate_after_days": data["escalate_after_days"],
            "escalate_to": data["escalate_to"],
            "escalate_managers": data["escalate_managers"],
            "active": data["active"],
            "active_from": data["active_from"],
            "active_until": data["active_until"],
        }

    def add_action_errors(self, errors: dict[str, str]) -> None:
        """do_save_rule's field errors next to their fields ("params.days" -> days)."""
        for name, message in errors.items():
            field = ERROR_FIELDS.get(name, name.removeprefix("params."))
            self.add_error(field if field in self.fields else None, message)


ERROR_FIELDS = {"recipients": "recipient_hr"}


def channel_choices(rule: Rule | None) -> list[tuple[str, str]]:
    """In-app inbox, e-mail and each active group robot (and any the rule already uses)."""
    used = {c for c in (rule.channels if rule else []) if str(c).startswith("robot:")}
    choices = [("inbox", _("In-app inbox")), ("email", _("E-mail"))]
    for robot in Robot.objects.order_by("name"):
        value = f"robot:{robot.pk}"
        if robot.active or value in used:
            label = _("Group robot: %(name)s") % {"name": robot.name}
            choices.append((value, label))
    return choices


def initial_for(rule: Rule | None, kind: str | None = None) -> dict:
    """The form's starting values: the rule as saved, or the defaults of a new one."""
    if rule is None:
        kind = kind if kind in Kind.values else Kind.ATTAINMENT
        return {
            "kind": kind,
            "level": Level.LEVEL1,
            "recipient_hr": True,
            "recipient_managers": "1",
            "channels": ["inbox"],
            "cooldown_days": 0,
            "escalate_managers": "0",
            "active": True,
            **KIND_DEFAULTS[kind],
        }
    users = get_user_model().objects.filter(pk__in=rule.recipients.get("users") or [])
    recipients = rule.recipients or {}
    initial = {
        "code": rule.code,
        "name": rule.name,
        "kind": kind if kind in Kind.values else rule.kind,
        "level": rule.level,
        "scope_units": [unit.code for unit in rule.scope_units.all()],
        "scope_positions": ", ".join(rule.scope_positions),
        "recipient_hr": recipients.get("hr", True),
        "recipient_managers": str(recipients.get("managers", 1)),
        "recipient_employee": recipients.get("employee", False),
        "recipient_users": " ".join(user.username for user in users),
        "channels": rule.channels,
        "cooldown_days": rule.cooldown_days,
        "escalate_after_days": rule.escalate_after_days,
        "escalate_to": rule.escalate_to,
        "escalate_managers": str(rule.escalate_managers),
        "active": rule.active,
        "active_from": rule.active_from,
        "active_until": rule.active_until,
    }
    initial.update(KIND_DEFAULTS[initial["kind"]])
    if initial["kind"] == rule.kind:
        initial.update(rule.params)
    return initial
