"""Changes to sources and pull connectors: who may make them, and the ledger entry of each.

Everything here is an HR admin's. Creating a source, changing its field mapping, rotating
its webhook secret and pointing a pull connector somewhere decide which business data
reaches the assessments, so each is recorded in the evidence ledger (never the secret).
"""

import hashlib
import json
import re
import secrets
import urllib.parse

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kaohe.integrations import outbound, presets
from kaohe.integrations.mapping import MappingInvalid, check_mapping
from kaohe.integrations.models import PullConnector, PullState, Source
from kaohe.lib import clock
from kaohe.metrics.models import SOURCE_CODE_PATTERN
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.evidence import record
from kaohe.org.models import is_hr_admin

PAGING = ("cursor", "page")
RESERVED_CODES = {"new"}  # a path word of the sources pages
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
MAX_HEADER_VALUE = 2000


def _require_hr_admin(actor) -> None:
    if not is_hr_admin(actor):
        raise PermissionDenied(_("Only an HR admin may do this."))


def mapping_digest(mapping: dict) -> str:
    text = json.dumps(mapping, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def checked_mapping(preset: str, mapping: dict | None) -> dict:
    """The mapping to store: the one given, else a copy of the preset's; checked."""
    if preset and presets.get(preset) is None:
        raise FieldErrors({"preset": _("There is no such payload format.")})
    if not mapping:
        found = presets.get(preset) if preset else None
        mapping = found.mapping if found else {}
    if not mapping:
        return {}
    try:
        return check_mapping(mapping)
    except MappingInvalid as invalid:
        raise FieldErrors({"mapping": mapping_message(invalid)}) from None


def mapping_message(invalid: MappingInvalid) -> str:
    return " ".join(f"{key or '(mapping)'}: {message}" for key, message in invalid.errors)


@transaction.atomic
def do_create_source(
    actor,
    code: str,
    name: str,
    *,
    preset: str = "",
    mapping: dict | None = None,
    silent_after_hours: int | None = None,
) -> Source:
    _require_hr_admin(actor)
    if not re.fullmatch(SOURCE_CODE_PATTERN, code or ""):
        message = _("Use 2 to 40 lower-case letters, digits, - or _, starting with a letter.")
        raise FieldErrors({"code": message})
    if code in RESERVED_CODES:
        raise FieldErrors(
            {"code": _("%(code)s is reserved; choose another code.") % {"code": code}}
        )
    mapping = checked_mapping(preset, mapping)
    if Source.objects.filter(code=code).exists():
        raise FieldErrors({"code": _("Source code %(code)s is already in use.") % {"code": code}})
    try:
        with transaction.atomic():
            source = Source.objects.create(
                code=code, name=name, preset=preset, mapping=mapping,
                silent_after_hours=silent_after_hours, created_at=clock.now(),
            )  # fmt: skip
    except IntegrityError:
        message = _("Source code %(code)s is already in use.") % {"code": code}
        raise FieldErrors({"code": message}) from None
    payload = {"name": name, "preset": preset, "mapping_sha256": mapping_digest(mapping),
               "silent_after_hours": silent_after_hours}  # fmt: skip
    record("integrations.source.created", actor, payload, source=code)
    return source


@transaction.atomic
def do_update_source(
    actor,
    source: Source,
    *,
    name: str,
    preset: str,
    mapping: dict | None,
    silent_after_hours: int | None,
    active: bool,
) -> Source:
    """Saves the source's settings; a new mapping gets its own ledger entry."""
    _require_hr_admin(actor)
    mapping = checked_mapping(preset, mapping)
    old_digest, new_digest = mapping_digest(source.mapping), mapping_digest(mapping)
    changes = {}
    wanted = {"name": name, "preset": preset, "silent_after_hours": silent_after_hours,
              "active": active}  # fmt: skip
    for field, value in wanted.items():
        if getattr(source, field) != value:
            changes[field] = {"old": getattr(source, field), "new": value}
            setattr(source, field, value)
    if old_digest != new_digest:
        source.mapping = mapping
    fields = [*changes, *(["mapping"] if old_digest != new_digest else [])]
    if fields:
        source.save(update_fields=fields)
    if changes:
        record("integrations.source.changed", actor, {"changes": changes}, source=source.code)
    if old_digest != new_digest:
        payload = {"preset": preset, "old_sha256": old_digest, "new_sha256": new_digest}
        record("integrations.source.mapping_changed", actor, payload, source=source.code)
    return source


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def do_rotate_webhook_secret(actor, source: Source) -> str:
    """Gives the source a new webhook secret and returns it, to be shown once. The old one
    stops working at once: the sender must be given the new one."""
    _require_hr_admin(actor)
    first = not source.webhook_secret
    source.webhook_secret = new_webhook_secret()
    source.save(update_fields=["webhook_secret"])
    fingerprint = hashlib.sha256(source.webhook_secret.encode()).hexdigest()[:12]
    payload = {"first": first, "fingerprint": fingerprint}
    record("integrations.source.secret_rotated", actor, payload, source=source.code)
    return source.webhook_secret


def check_pull_url(url: str) -> str:
    """An http(s) address without credentials in it, to a host pulls may reach."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or not _has_port(parts):
        raise FieldErrors({"url": _("Give an http:// or https:// address.")})
    if parts.username is not None or parts.password is not None:
        message = _("Put credentials in a request header (such as Authorization), not in the "
                    "address: the address is written to the evidence ledger.")  # fmt: skip
        raise FieldErrors({"url": message})
    refusal = outbound.refusal_for_host(parts.hostname)
    if refusal:
        raise FieldErrors({"url": refusal})
    return url


def _has_port(parts: urllib.parse.SplitResult) -> bool:
    """False when the address names a port that is not one (":99999", ":x")."""
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        return False
    return True


def check_headers(headers) -> dict[str, str]:
    if not isinstance(headers, dict):
        raise FieldErrors({"headers": _("Give the headers as name: value lines.")})
    for name, value in headers.items():
        if not HEADER_NAME.match(str(name)):
            raise FieldErrors({"headers": _("%(name)s is not a header name.") % {"name": name}})
        text = str(value)
        if len(text) > MAX_HEADER_VALUE or any(c in text for c in "\r\n\0"):
            message = _("The value of %(name)s is too long or spans lines.") % {"name": name}
            raise FieldErrors({"headers": message})
    return {str(name): str(value) for name, value in headers.items()}


@transaction.atomic
def do_configure_pull(
    actor,
    source: Source,
    *,
    url: str,
    paging: str = "cursor",
    cursor_param: str = "cursor",
    headers: dict | None = None,
    every_minutes: int = 15,
    active: bool = True,
) -> PullConnector:
    """Creates or changes the source's pull connector. The committed cursor is kept (use
    do_reset_pull_cursor to start over)."""
    _require_hr_admin(actor)
    check_pull_url(url)
    headers = check_headers(headers or {})
    if paging not in PAGING:
        raise FieldErrors({"paging": _("Choose cursor or page.")})
    if not 1 <= every_minutes <= 7 * 24 * 60:
        raise FieldErrors({"every_minutes": _("Give 1 to 10080 minutes.")})
    connector, created = PullConnector.objects.get_or_create(
        source=source, defaults={"url": url, "next_run_at": clock.now()}
    )
    # A cursor of one paging means nothing to the other: start over from the first page.
    old_cursor = connector.cursor if connector.paging != paging else None
    connector.url, connector.paging, connector.cursor_param = url, paging, cursor_param
    connector.headers, connector.every_minutes, connector.active = headers, every_minutes, active
    fields = ["url", "paging", "cursor_param", "headers", "every_minutes", "active"]
    if old_cursor is not None:
        connector.cursor = ""
        fields.append("cursor")
    connector.save(update_fields=fields)
    payload = {"url": without_secrets(url), "paging": paging, "cursor_param": cursor_param,
               "header_names": sorted(headers), "every_minutes": every_minutes,
               "active": active, "created": created}  # fmt: skip
    if old_cursor and not created:
        payload["cursor_reset"] = {"old_cursor": old_cursor}
    record("integrations.pull.configured", actor, payload, source=source.code)
    return connector


def without_secrets(url: str) -> str:
    """The URL without its query (it may carry an access token) and without user:password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", ""))


@transaction.atomic
def do_reset_pull_cursor(actor, connector: PullConnector) -> PullConnector:
    """Starts the connector over from the first page (upserts keep counts exact)."""
    _require_hr_admin(actor)
    old = connector.cursor
    # Conditional, so a run that claims the connector meanwhile is not overwritten.
    reset = PullConnector.objects.filter(pk=connector.pk).exclude(state=PullState.RUNNING)
    if not reset.update(cursor="", next_run_at=clock.now()):
        raise ActionError(_("The connector is running; try again when it has finished."))
    connector.refresh_from_db()
    payload = {"old_cursor": old}
    record("integrations.pull.cursor_reset", actor, payload, source=connector.source.code)
    return connector
