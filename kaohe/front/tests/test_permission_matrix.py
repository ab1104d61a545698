"""Every URL the project defines, tried by an outsider employee and an HR partner of another
unit. The table must name every URL pattern, so a new page cannot be forgotten: add it here
with how outsiders are to be treated.

The target of every guessed id is amy (E0003, East). olga is an employee in South; harry is
the HR partner of South. Neither may learn anything about amy.
"""

import io
import re
import uuid

import openpyxl
import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from kaohe.alerts.testing import make_rule, raise_alert
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.org.actions import do_create_api_key
from kaohe.org.evidence import record

from . import matrix_app, matrix_reviews, matrix_signing

pytestmark = pytest.mark.django_db

DENIED = {403, 404}
# How each pattern answers an outsider: "denied" (403/404 for both), "open" (no personal
# data at all), or "filtered" (allowed, but shows only what the caller may see).
# Values: (rule, methods to try).
MATRIX = {
    "healthz": ("open", ["get"]),
    "settings/": ("filtered", ["get"]),
    "api/v1/openapi.json": ("open", ["get"]),
    "api/v1/docs": ("open", ["get"]),
    "api/v1/employees": ("filtered", ["get", "post"]),
    "api/v1/employees/<employee_no>": ("denied", ["get"]),
    "api/v1/employees/<employee_no>/attainment": ("denied", ["get"]),
    "api/v1/targets": ("filtered", ["put"]),
    "api/v1/metrics": ("open", ["get"]),
    "api/v1/org-units": ("filtered", ["get"]),
    "api/v1/facts": ("denied_to_both", ["post"]),
    "api/v1/ledger/keys": ("open", ["get"]),
    "api/v1/ledger/checkpoints/latest": ("filtered", ["get"]),
    "api/v1/ledger/entries/<index>/proof": ("denied", ["get"]),
    "api/v1/ledger/consistency": ("filtered", ["get"]),
    # Signed webhooks: without the source's signature every caller gets 401.
    "api/v1/hooks/<source>": ("filtered", ["post"]),
    "api/v1/alerts": ("filtered", ["get"]),
    "": ("open", ["get"]),
    "login/": ("open", ["get"]),
    "logout/": ("open", ["post"]),
    "lang/": ("open", ["post"]),
    "invite/<str:token>/": ("denied", ["get", "post"]),
    "me/": ("filtered", ["get"]),
    "me/password/": ("filtered", ["get", "post"]),
    "me/evidence/": ("filtered", ["get"]),
    "me/attainment/": ("filtered", ["get"]),
    "audit/": ("denied_to_both", ["get"]),
    "audit/entries/<int:index>/": ("denied", ["get"]),
    "audit/entries/<int:index>/proof.json": ("denied", ["get"]),
    "org/": ("filtered", ["get"]),
    "people/": ("filtered", ["get"]),
    "people/export.xlsx": ("filtered", ["get"]),
    "people/import/": ("filtered", ["get"]),
    "facts/import/": ("denied_to_both", ["get", "post"]),
    "people/<str:employee_no>/": ("denied", ["get"]),
    "people/<str:employee_no>/invite/": ("denied", ["post"]),
    "people/<str:employee_no>/attainment/": ("denied", ["get"]),
    "people/<str:employee_no>/targets/": ("denied", ["get", "post"]),
    "people/<str:employee_no>/targets/<str:period>/": ("denied", ["get", "post"]),
    "people/<str:employee_no>/targets/<str:period>/publish/": ("denied", ["post"]),
    "people/<str:employee_no>/targets/<str:period>/revise/": ("denied", ["post"]),
    "people/<str:employee_no>/targets/<str:period>/discard/": ("denied", ["post"]),
    "targets/bulk/": ("filtered", ["get", "post"]),
    # Warnings: the list shows only what the caller may see; one alert is its viewers' only.
    "alerts/": ("filtered", ["get"]),
    "alerts/<int:alert_id>/": ("denied", ["get"]),
    "alerts/<int:alert_id>/acknowledge/": ("denied", ["post"]),
    "alerts/<int:alert_id>/close/": ("denied", ["post"]),
    "settings/rules/": ("denied_to_both", ["get"]),
    "settings/rules/new/": ("denied_to_both", ["get", "post"]),
    "settings/rules/preview/": ("denied_to_both", ["post"]),
    "settings/rules/<slug:code>/": ("denied_to_both", ["get", "post"]),
    "settings/metrics/": ("filtered", ["get"]),
    "settings/metrics/new/": ("denied_to_both", ["get", "post"]),
    "settings/metrics/<str:code>/": ("denied_to_both", ["get", "post"]),
    "settings/company/": ("filtered", ["get", "post"]),
    "settings/company/workdays/": ("denied_to_both", ["post"]),
    "settings/company/workdays/<str:day>/remove/": ("denied_to_both", ["post"]),
    "settings/roles/": ("denied_to_both", ["get", "post"]),
    "settings/roles/<int:assignment_id>/revoke/": ("denied_to_both", ["post"]),
    "settings/api-keys/": ("denied_to_both", ["get", "post"]),
    "settings/api-keys/<uuid:key_id>/revoke/": ("denied_to_both", ["post"]),
    "settings/sources/": ("denied_to_both", ["get"]),
    "settings/sources/new/": ("denied_to_both", ["get", "post"]),
    "settings/sources/<str:code>/": ("denied_to_both", ["get", "post"]),
    "settings/sources/<str:code>/secret/": ("denied_to_both", ["post"]),
    "settings/sources/<str:code>/pull/": ("denied_to_both", ["post"]),
    "settings/sources/<str:code>/pull/run/": ("denied_to_both", ["post"]),
    "settings/sources/<str:code>/pull/reset/": ("denied_to_both", ["post"]),
    "settings/deliveries/": ("denied_to_both", ["get"]),
    "settings/deliveries/<int:delivery_id>/": ("denied_to_both", ["get"]),
    # Notifications: everyone's own inbox and preferences; the rest is the HR admin's.
    "inbox/": ("filtered", ["get"]),
    "inbox/read-all/": ("filtered", ["post"]),
    "inbox/<uuid:notification_id>/read/": ("denied", ["post"]),
    "me/notifications/": ("filtered", ["get", "post"]),
    "settings/notifications/": ("denied_to_both", ["get"]),
    "settings/notifications/robots/new/": ("denied_to_both", ["get", "post"]),
    "settings/notifications/robots/<int:robot_id>/": ("denied_to_both", ["get", "post"]),
    "settings/notifications/robots/<int:robot_id>/test/": ("denied_to_both", ["post"]),
    "settings/notifications/webhooks/new/": ("denied_to_both", ["get", "post"]),
    "settings/notifications/webhooks/<int:endpoint_id>/": ("denied_to_both", ["get", "post"]),
    "settings/notifications/webhooks/<int:endpoint_id>/test/": ("denied_to_both", ["post"]),
    "settings/notifications/deliveries/<int:delivery_id>/retry/": ("denied_to_both", ["post"]),
}
# Areas keep their rows in their own module: MATRIX, and `targets(cast)` making amy's objects
# and returning {placeholder: value} for their routes.
AREAS = (matrix_signing, matrix_reviews, matrix_app)
for _area in AREAS:
    MATRIX.update(_area.MATRIX)
AMY_MARKERS = ("艾米", "E0003", "e0003@example.com", "华东", "私密")


def all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from all_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route.lstrip("^").rstrip("$")


def concrete(route: str, key_id, entry: int = 0, alert: int = 1, extra=None) -> str:
    for placeholder, value in (extra or {}).items():
        route = route.replace(placeholder, str(value))
    url = (
        route.replace("<str:employee_no>", "E0003")
        .replace("<int:alert_id>", str(alert))
        .replace("<slug:code>", "below-80-2m")
        .replace("<employee_no>", "E0003")
        .replace("<str:token>", "guessed-token")
        .replace("<uuid:key_id>", str(key_id))
        .replace("<str:day>", "2026-10-01")
        .replace("<int:assignment_id>", "1")
        .replace("<int:index>", str(entry))
        .replace("<index>", str(entry))
        .replace("<str:period>", "2026-Q1")
        .replace("<str:code>", "sales_amount")
        .replace("<source>", "attendance")
        .replace("<int:delivery_id>", "1")
        .replace("<uuid:notification_id>", str(key_id))
        .replace("<int:robot_id>", "1")
        .replace("<int:endpoint_id>", "1")
    )
    # Anything left (an area's placeholder without an object): a well-formed guess.
    url = re.sub(r"<uuid:\w+>", str(uuid.UUID(int=7)), url)
    url = re.sub(r"<(?:int:)?\w+>", "1", url)
    return "/" + url


def body_text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return " ".join(
            str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
        )
    return content.decode("utf-8", "replace")


def test_the_matrix_names_every_url_pattern():
    assert set(all_patterns()) == set(MATRIX)


@pytest.mark.parametrize("who", ["olga", "harry"])
@pytest.mark.parametrize("route", sorted(MATRIX))
def test_outsiders_learn_nothing_about_amy(route, who, cast, client_for):
    rule, methods = MATRIX[route]
    key, _secret = do_create_api_key(None, "crm", ["employees:read"])
    amy_entry = record("test.note_about_amy", None, {"note": "私密"}, cast.amy)
    amy_alert = raise_alert(make_rule(cast.ada), cast.amy)
    extra = {}
    for area in AREAS:
        extra.update(area.targets(cast))
    make_checkpoint(force=True)
    user = cast.olga.user if who == "olga" else cast.harry
    client = client_for(user)
    url = concrete(route, key.public_id, amy_entry.index, amy_alert.pk, extra)
    for method in methods:
        payload = {"employee_no": "E0003", "name": "改名", "org_unit": "EAST-S"}
        if method == "post" and route.startswith("api/"):
            response = client.post(url, payload, content_type="application/json")
        else:
            response = getattr(client, method)(url, payload if method == "post" else None)
        assert response.status_code < 500, (method, url)
        if rule in {"denied", "denied_to_both"}:
            assert response.status_code in DENIED, (method, url, response.status_code)
        elif response.status_code in (200, 201):
            text = body_text(response)
            leaked = [m for m in AMY_MARKERS if m in text]
            assert not leaked, (method, url, leaked)
    cast.amy.refresh_from_db()
    assert cast.amy.name == "艾米"


@pytest.mark.parametrize("route", sorted(r for r, (rule, _) in MATRIX.items() if rule != "open"))
def test_anonymous_visitors_are_sent_to_login_or_refused(route, cast, client):
    key_id = uuid.uuid4()
    _rule, methods = MATRIX[route]
    for method in methods:
        response = getattr(client, method)(concrete(route, key_id))
        if route.startswith("api/"):
            assert response.status_code == 401, route
        elif route.startswith("invite/"):
            assert response.status_code == 404
        else:
            assert response.status_code == 302 and "/login/" in response.url, route
