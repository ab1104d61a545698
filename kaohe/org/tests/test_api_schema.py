"""Schemathesis drives every operation of /api/v1/ from its OpenAPI document and runs all
of its checks: no server errors, statuses, content types, headers and bodies as
documented, invalid input rejected, valid input accepted, authentication enforced,
unsupported methods answered with 405.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from kaohe.integrations.models import Source
from kaohe.lib import clock
from kaohe.org.actions import API_SCOPES, do_create_api_key, do_upsert_employee
from kaohe.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Like Django's test client: a request must not close the connection that holds the
    test's transaction (PostgreSQL would lose it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_secret(cast, wsgi_keeps_the_test_connection):
    """An HR admin's key with every scope. E0042, the documented example, exists."""
    example = {"employee_no": "E0042", "name": "王芳", "org_unit": "EAST-S"}
    do_upsert_employee(None, {**example, "hire_date": cast.amy.hire_date})
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    _key, secret = do_create_api_key(cast.ada, "fuzzing", list(API_SCOPES))
    return secret


def refer_to_existing_records(case, cast) -> None:
    """A schema cannot say which org unit codes, managers or sources exist. Valid bodies name
    a real unit and source and no manager, so that "valid data is accepted" tests more than
    a lookup miss."""
    generation = case.meta.generation if case.meta else None
    if generation is None or not generation.mode.is_positive or not isinstance(case.body, dict):
        return
    if "org_unit" in case.body:
        case.body["org_unit"] = cast.east_sales.code
    if "source" in case.body:  # the facts of a source that exists
        case.body["source"] = "crm"
    case.body.pop("manager", None)


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_the_promises_of_its_openapi_document(case, cast, admin_secret):
    refer_to_existing_records(case, cast)
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_secret}"})
