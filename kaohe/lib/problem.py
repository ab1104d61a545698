"""Problem details (RFC 9457): the one shape every API error takes.

`type` is a stable URI per kind of problem, `https://kaohe.dev/problems/<slug>`; clients
branch on it. `title` names the kind and `detail` explains this occurrence, both in the
request's language. Validation problems add `errors`, one entry per rejected field.
"""

import json

from django.http import HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import Schema
from pydantic import Field

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://kaohe.dev/problems/"

# status -> (slug, title) of the problem kinds the API answers with.
KINDS = {
    400: ("bad-request", _("Bad request")),
    401: ("unauthorized", _("Authentication required")),
    403: ("forbidden", _("Permission denied")),
    404: ("not-found", _("Not found")),
    405: ("method-not-allowed", _("Method not allowed")),
    409: ("conflict", _("Conflict")),
    413: ("content-too-large", _("Content too large")),
    422: ("validation", _("Invalid input")),
    429: ("too-many-requests", _("Too many requests")),
    500: ("server-error", _("Server error")),
}


class FieldProblem(Schema):
    location: str = Field(description='Where the value was sent: "body", "query", "path".')
    field: str = Field(description='Dotted path of the field, e.g. "birth_date"; "" for all.')
    code: str = Field(description='A stable, machine-readable reason, e.g. "missing".')
    message: str = Field(description="What is wrong, in the request's language.")


class Problem(Schema):
    type: str = Field(description="A stable URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = Field(
        default_factory=list, description="For invalid input: every rejected field."
    )


class ProblemError(Exception):
    """Raised anywhere under the API; becomes a problem response of `status`."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict] | None = None,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = str(detail)
        self.errors = errors or []
        self.slug = slug
        self.headers = headers or {}


def field_problem(location: str, field: str, code: str, message: str) -> dict:
    return {"location": location, "field": field, "code": code, "message": str(message)}


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict] | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    default_slug, title = KINDS.get(status, KINDS[400 if status < 500 else 500])
    body = {
        "type": TYPE_BASE + (slug or default_slug),
        "title": str(title),
        "status": status,
        "detail": str(detail),
    }
    if errors:
        body["errors"] = errors
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def response_for(error: ProblemError) -> HttpResponse:
    return problem_response(
        error.status, error.detail, errors=error.errors, slug=error.slug, headers=error.headers
    )


# pydantic error type -> message, so field errors read in the request's language too.
_FIELD_MESSAGES = {
    "missing": _("This field is required."),
    "extra_forbidden": _("This field is not allowed."),
    "string_type": _("Send a string."),
    "string_unicode": _("Send valid Unicode text."),
    "string_too_short": _("Use at least %(min_length)s characters."),
    "string_too_long": _("Use at most %(max_length)s characters."),
    "string_pattern_mismatch": _("This value does not have the expected format."),
    "int_type": _("Send a whole number."),
    "int_parsing": _("Send a whole number."),
    "int_from_float": _("Send a whole number."),
    "greater_than_equal": _("Send a number of at least %(ge)s."),
    "less_than_equal": _("Send a number of at most %(le)s."),
    "literal_error": _("Choose one of %(expected)s."),
    "enum": _("Choose one of %(expected)s."),
    "model_attributes_type": _("Send a JSON object."),
    "dict_type": _("Send a JSON object."),
    "model_type": _("Send a JSON object."),
}


def field_message(error: dict) -> str:
    """A readable message for one pydantic error (our own validators bring their own)."""
    ctx = error.get("ctx") or {}
    if error.get("type") == "value_error" and "error" in ctx:
        return str(ctx["error"])
    template = _FIELD_MESSAGES.get(error.get("type", ""))
    if template is None:
        return error.get("msg", gettext("Invalid value."))
    try:
        return str(template) % ctx if "%(" in str(template) else str(template)
    except (KeyError, TypeError, ValueError):
        return error.get("msg", gettext("Invalid value."))


def validation_problems(errors: list[dict]) -> list[dict]:
    """ninja's validation errors (loc = (location, *path)) as `errors` entries."""
    result = []
    for error in errors:
        location, *path = error.get("loc") or ("body",)
        field = ".".join(str(part) for part in path)
        code = error.get("type", "")
        result.append(field_problem(str(location), field, code, field_message(error)))
    return result
