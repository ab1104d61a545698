"""Assembles the apps' routers into /api/v1/ and answers every error with a problem."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kaohe.alerts.api import router as alerts_router
from kaohe.integrations.api import router as facts_router
from kaohe.integrations.hooks import router as hooks_router
from kaohe.lib.problem import (
    CONTENT_TYPE,
    ProblemError,
    field_problem,
    problem_response,
    response_for,
    validation_problems,
)
from kaohe.metrics.api import router as targets_router
from kaohe.org.actions import ActionError, FieldErrors
from kaohe.org.api import CHALLENGE, auth_for
from kaohe.org.api import router as org_router
from kaohe.org.evidence_api import router as evidence_router
from kaohe.reviews.api import router as reviews_router
from kaohe.signing.api import router as signing_router

logger = logging.getLogger("kaohe.api")

DESCRIPTION = """
The integration API of kaohe.

**Authentication.** Send `Authorization: Bearer <api key>`; HR admins create keys under
Settings → API keys or with `kaohe apikey create`. Each operation names the scope it needs.
A signed-in browser session works too (unsafe methods then need the `X-CSRFToken` header).

**Errors** are `application/problem+json` (RFC 9457). `type` is stable and names the kind
of problem (`https://kaohe.dev/problems/validation`, `.../unauthorized`, `.../forbidden`,
`.../not-found`, ...); `title` and `detail` follow `Accept-Language` (zh-Hans or en);
invalid input lists every rejected field in `errors`.

**Retries.** Send an `Idempotency-Key` header (any unique string, up to 255 characters) with
a POST: a retry with the same key and the same request returns the first response (marked
`Idempotency-Replayed: true`) for 24 hours; the same key with a different request is 422.

**Lists** are paged by an opaque `cursor`: pass the `next_cursor` of one page to get the
next; it is null on the last page.
"""


class KaoheAPI(NinjaAPI):
    def _get_urls(self):
        # ninja's root view only raises an HTML 404; the API has no root document.
        return [url for url in super()._get_urls() if getattr(url, "name", "") != "api-root"]

    def get_root_path(self, path_params: dict) -> str:
        schema_url = reverse(f"{self.urls_namespace}:openapi-json", kwargs=path_params)
        return schema_url.removesuffix(self.openapi_url.lstrip("/"))

    def get_openapi_schema(self, **kwargs):
        schema = super().get_openapi_schema(**kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                _declare_problems(operation["responses"])
        return schema

    def validation_error_from_error_contexts(self, error_contexts) -> ValidationError:
        error = super().validation_error_from_error_contexts(error_contexts)
        # ninja nests a body under its parameter name; clients know only the body's fields.
        wrappers = {getattr(c.model, "__read_from_single_attr__", None) for c in error_contexts}
        for item in error.errors:
            loc = item["loc"]
            if loc[0] == "body" and len(loc) > 1 and loc[1] in wrappers:
                item["loc"] = ("body", *loc[2:])
        return error


def _declare_problems(responses: dict) -> None:
    for status, response in responses.items():
        content = response.get("content", {})
        if int(status) >= 400 and "application/json" in content:
            response["content"] = {CONTENT_TYPE: content.pop("application/json")}


api = KaoheAPI(
    title="kaohe API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=auth_for(),
)
api.add_router("", org_router)
api.add_router("", evidence_router)
api.add_router("", targets_router)
api.add_router("", facts_router)
api.add_router("", hooks_router)
api.add_router("", alerts_router)
api.add_router("", signing_router)
api.add_router("", reviews_router)


@api.exception_handler(ProblemError)
def _problem(request, exc: ProblemError):
    return response_for(exc)


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    detail = _("Some fields are invalid; see errors.")
    return problem_response(422, detail, errors=validation_problems(exc.errors))


@api.exception_handler(FieldErrors)
def _invalid_fields(request, exc: FieldErrors):
    errors = [field_problem("body", name, "invalid", msg) for name, msg in exc.errors.items()]
    return problem_response(422, _("Some fields are invalid; see errors."), errors=errors)


@api.exception_handler(ActionError)
def _refused(request, exc: ActionError):
    return problem_response(422, str(exc), slug="refused")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc: AuthenticationError):
    detail = _("Send Authorization: Bearer <api key>, or sign in.")
    return problem_response(401, detail, headers=CHALLENGE)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return problem_response(403, str(exc) or _("You may not do this."))


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return problem_response(404, _("There is nothing here."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return problem_response(400, _("The request body is not valid JSON."))
    return problem_response(exc.status_code, str(exc))


@api.exception_handler(Exception)
def _crashed(request, exc: Exception):
    logger.exception("API request failed: %s %s", request.method, request.path)
    return problem_response(500, _("Something went wrong on our side; it has been logged."))
