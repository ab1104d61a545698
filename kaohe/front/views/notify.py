"""Notifications: everyone's inbox and preferences; the HR admin's robots, webhook endpoints
and delivery log."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kaohe.notify.actions import (
    do_mark_all_read,
    do_mark_read,
    do_retry_delivery,
    do_save_endpoint,
    do_save_preference,
    do_save_robot,
    do_test_endpoint,
    do_test_robot,
)
from kaohe.notify.context import unread_count
from kaohe.notify.models import (
    FAILED_STATES,
    Channel,
    Delivery,
    Notification,
    Platform,
    Preference,
    Robot,
    Status,
    WebhookEndpoint,
)
from kaohe.notify.send import address_of
from kaohe.notify.sending import send_now
from kaohe.org.actions import FieldErrors
from kaohe.org.models import is_hr_admin

INBOX_SIZE = 50
LOG_SIZE = 50
MASK = "********"
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
TIME_ERRORS = {"invalid": gettext_lazy("Give a time such as 22:00.")}


def _require_hr_admin(user) -> None:
    if not is_hr_admin(user):
        raise PermissionDenied


def _add_errors(form: forms.Form, invalid: FieldErrors) -> None:
    for name, message in invalid.errors.items():
        form.add_error(name if name in form.fields else None, message)


# --- the inbox ---------------------------------------------------------------------------


def _inbox_rows(user):
    unread_first = Case(When(read_at__isnull=True, then=Value(0)), default=Value(1),
                        output_field=IntegerField())  # fmt: skip
    rows = Notification.objects.filter(user=user).defer("data")
    return rows.order_by(unread_first, "-created_at", "-id")[:INBOX_SIZE]


@login_required
def inbox(request):
    context = {"notifications": _inbox_rows(request.user), "unread": unread_count(request.user)}
    return render(request, "front/inbox.html", context)


@login_required
@require_POST
def inbox_read(request, notification_id):
    item = get_object_or_404(Notification, public_id=notification_id, user=request.user)
    do_mark_read(request.user, item)
    if request.htmx:
        item.refresh_from_db()
        context = {"n": item, "unread": unread_count(request.user), "oob": True}
        return render(request, "front/inbox_item.html", context)
    return redirect("front:inbox")


@login_required
@require_POST
def inbox_read_all(request):
    do_mark_all_read(request.user)
    if request.htmx:
        context = {"notifications": _inbox_rows(request.user), "unread": 0, "oob": True}
        return render(request, "front/inbox_list.html", context)
    return redirect("front:inbox")


# --- preferences -------------------------------------------------------------------------


class PreferenceForm(forms.Form):
    email = forms.BooleanField(label=gettext_lazy("Send me e-mail too"), required=False)
    quiet_start = forms.TimeField(
        label=gettext_lazy("Quiet hours from"), required=False, widget=TIME,
        error_messages=TIME_ERRORS,
    )  # fmt: skip
    quiet_end = forms.TimeField(
        label=gettext_lazy("Quiet hours until"), required=False, widget=TIME,
        error_messages=TIME_ERRORS,
        help_text=gettext_lazy("In the company's timezone. E-mail that falls in quiet hours "
                               "waits until they end; the inbox always shows it at once."),
    )  # fmt: skip
    language = forms.ChoiceField(label=gettext_lazy("Language of notifications"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        default = [("", _("the site's default"))]
        self.fields["language"].choices = default + list(settings.LANGUAGES)


@login_required
def my_notifications(request):
    stored = Preference.objects.filter(user=request.user).first()
    initial = {"email": True}
    if stored is not None:
        initial = {"email": stored.email, "quiet_start": stored.quiet_start,
                   "quiet_end": stored.quiet_end, "language": stored.language}  # fmt: skip
    form = PreferenceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            do_save_preference(request.user, **form.cleaned_data)
        except FieldErrors as invalid:
            _add_errors(form, invalid)
        else:
            messages.success(request, _("Your notification settings are saved."))
            return redirect("front:my_notifications")
    has_address = bool(address_of(request.user, getattr(request.user, "employee", None)))
    return render(request, "front/notify_preferences.html",
                  {"form": form, "has_address": has_address})  # fmt: skip


# --- the HR admin's settings -------------------------------------------------------------


class RobotForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), choices=Platform.choices)
    url = forms.CharField(
        label=gettext_lazy("Webhook URL"), max_length=500,
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
        help_text=gettext_lazy("The robot's address as the group settings show it."),
    )  # fmt: skip
    secret = forms.CharField(
        label=gettext_lazy("Signing secret"), required=False, max_length=200,
        help_text=gettext_lazy("DingTalk 加签 (SEC...) or Feishu 签名校验; empty: none. "
                               "A stored secret is shown masked."),
    )  # fmt: skip
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)


class EndpointForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    url = forms.CharField(
        label=gettext_lazy("URL"), max_length=500,
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )  # fmt: skip
    event_types = forms.CharField(
        label=gettext_lazy("Event types"), initial="*",
        help_text=gettext_lazy("Separated by spaces or commas, such as alert.raised; * for all."),
    )  # fmt: skip
    secret = forms.CharField(
        label=gettext_lazy("Signing secret"), required=False, max_length=200,
        help_text=gettext_lazy("Empty: kaohe makes one (new endpoint) or keeps the stored one."),
    )  # fmt: skip
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def clean_event_types(self) -> list[str]:
        return self.cleaned_data["event_types"].replace(",", " ").split()


class DeliveryFilter(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"), required=False,
        choices=[("", gettext_lazy("all")), ("failed", gettext_lazy("failing")),
                 *Status.choices],
    )  # fmt: skip
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"), required=False,
        choices=[("", gettext_lazy("all")), *Channel.choices],
    )  # fmt: skip


def _log(data: dict):
    rows = Delivery.objects.defer("payload")
    if data.get("status") == "failed":
        rows = rows.filter(status__in=FAILED_STATES)
    elif data.get("status"):
        rows = rows.filter(status=data["status"])
    if data.get("channel"):
        rows = rows.filter(channel=data["channel"])
    return rows.order_by("-created_at", "-id")[:LOG_SIZE]


@login_required
def notify_settings(request):
    _require_hr_admin(request.user)
    log_filter = DeliveryFilter(request.GET or None)
    data = log_filter.cleaned_data if log_filter.is_valid() else {}
    context = {
        "robots": Robot.objects.all(),
        "endpoints": WebhookEndpoint.objects.all(),
        "deliveries": _log(data),
        "filter": log_filter,
        "failing": Delivery.objects.filter(status__in=FAILED_STATES).count(),
    }
    return render(request, "front/notify_settings.html", context)


def _robot_form(robot: Robot | None, data=None) -> RobotForm:
    if robot is None:
        return RobotForm(data)
    initial = {"name": robot.name, "platform": robot.platform, "url": robot.url,
               "secret": MASK if robot.secret else "", "active": robot.active}  # fmt: skip
    return RobotForm(data, initial=initial)


@login_required
def robot_edit(request, robot_id: int | None = None):
    _require_hr_admin(request.user)
    robot = get_object_or_404(Robot, pk=robot_id) if robot_id else None
    form = _robot_form(robot, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if robot is not None and data["secret"] == MASK:
            data["secret"] = robot.secret
        try:
            robot = do_save_robot(request.user, robot, **data)
        except FieldErrors as invalid:
            _add_errors(form, invalid)
        else:
            messages.success(request, _("Robot %(name)s saved.") % {"name": robot.name})
            return redirect("front:notify_settings")
    return render(request, "front/notify_form.html",
                  {"form": form, "robot": robot, "what": "robot"})  # fmt: skip


def _endpoint_form(endpoint: WebhookEndpoint | None, data=None) -> EndpointForm:
    if endpoint is None:
        return EndpointForm(data)
    initial = {"name": endpoint.name, "url": endpoint.url, "active": endpoint.active,
               "event_types": " ".join(endpoint.event_types)}  # fmt: skip
    return EndpointForm(data, initial=initial)


@login_required
def endpoint_edit(request, endpoint_id: int | None = None):
    _require_hr_admin(request.user)
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id) if endpoint_id else None
    form = _endpoint_form(endpoint, request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = endpoint is None
        try:
            endpoint = do_save_endpoint(request.user, endpoint, **form.cleaned_data)
        except FieldErrors as invalid:
            _add_errors(form, invalid)
        else:
            if created or form.cleaned_data["secret"]:
                return _secret_page(request, endpoint)
            messages.success(request, _("Endpoint %(name)s saved.") % {"name": endpoint.name})
            return redirect("front:notify_settings")
    return render(request, "front/notify_form.html",
                  {"form": form, "endpoint": endpoint, "what": "endpoint"})  # fmt: skip


def _secret_page(request, endpoint: WebhookEndpoint):
    """The one page that shows an endpoint's secret, right after it was set."""
    response = render(request, "front/notify_secret.html", {"endpoint": endpoint})
    response["Cache-Control"] = "no-store"
    return response


def _report(request, delivery: Delivery) -> None:
    delivery = send_now(delivery)
    if delivery.status == Status.SENT:
        messages.success(request, _("The test message was delivered."))
    else:
        messages.error(request, _("The test message failed: %(error)s")
                       % {"error": delivery.last_error})  # fmt: skip


def _test_send(request, model, pk: int, action):
    _require_hr_admin(request.user)
    _report(request, action(request.user, get_object_or_404(model, pk=pk)))
    return redirect("front:notify_settings")


@login_required
@require_POST
def robot_test(request, robot_id: int):
    return _test_send(request, Robot, robot_id, do_test_robot)


@login_required
@require_POST
def endpoint_test(request, endpoint_id: int):
    return _test_send(request, WebhookEndpoint, endpoint_id, do_test_endpoint)


@login_required
@require_POST
def delivery_retry(request, delivery_id: int):
    _require_hr_admin(request.user)
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    if do_retry_delivery(request.user, delivery):
        messages.success(request, _("The delivery is queued again."))
    else:
        messages.error(request, _("Only failing deliveries can be retried."))
    return redirect("front:notify_settings")
