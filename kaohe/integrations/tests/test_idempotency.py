import datetime as dt
import json

import pytest
import time_machine

from kaohe.integrations.models import IdempotentRequest
from kaohe.integrations.tasks import purge_idempotent_requests
from kaohe.org.actions import do_create_api_key
from kaohe.org.models import Employee

pytestmark = pytest.mark.django_db
URL = "/api/v1/employees"
NEW = {"employee_no": "E0500", "name": "新员工", "org_unit": "SOUTH", "hire_date": "2026-01-05"}


@pytest.fixture
def auth(cast):
    def make(name="hris"):
        _key, secret = do_create_api_key(None, name, ["employees:write", "employees:read"])
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return make


def send(client, headers, body, key="k-1"):
    extra = {**headers, "HTTP_IDEMPOTENCY_KEY": key} if key is not None else headers
    return client.post(URL, json.dumps(body), content_type="application/json", **extra)


def test_a_retried_post_returns_the_first_response_and_changes_nothing(client, auth):
    headers = auth()
    first = send(client, headers, NEW)
    Employee.objects.filter(employee_no="E0500").update(name="被别人改过")
    again = send(client, headers, NEW)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotency-Replayed"] == "true"
    assert Employee.objects.get(employee_no="E0500").name == "被别人改过"


def test_without_the_header_a_post_is_applied_again(client, auth):
    headers = auth()
    assert send(client, headers, NEW, key=None).status_code == 201
    assert send(client, headers, NEW, key=None).status_code == 200


def test_the_same_key_with_another_request_is_refused(client, auth):
    headers = auth()
    send(client, headers, NEW)
    response = send(client, headers, {**NEW, "name": "别的名字"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert Employee.objects.get(employee_no="E0500").name == "新员工"


def test_two_clients_may_use_the_same_key_independently(client, auth):
    assert send(client, auth("a"), NEW).status_code == 201
    other = send(client, auth("b"), {**NEW, "employee_no": "E0501"})
    assert other.status_code == 201 and "Idempotency-Replayed" not in other


def test_a_retry_while_the_first_is_still_running_is_told_to_wait(client, auth):
    headers = auth()
    send(client, headers, NEW)
    IdempotentRequest.objects.update(status=None)
    response = send(client, headers, NEW)
    assert response.status_code == 409 and response["Retry-After"] == "1"


def test_an_overlong_key_is_a_bad_request(client, auth):
    response = send(client, auth(), NEW, key="k" * 256)
    assert response.status_code == 400
    assert not Employee.objects.filter(employee_no="E0500").exists()


def test_keys_are_forgotten_after_a_day(client, auth):
    headers = auth()
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        send(client, headers, NEW)
    with time_machine.travel(start + dt.timedelta(hours=25), tick=False):
        assert purge_idempotent_requests.enqueue().return_value == 1
        assert send(client, headers, {**NEW, "name": "改名"}).status_code == 200
