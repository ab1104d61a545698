"""A NUL byte anywhere in a request is a clear refusal, never a 500 (PostgreSQL refuses
NUL in text even inside a query, so each lookup must keep it out)."""

import pytest

from kaohe.integrations.models import Delivery, Source
from kaohe.lib import clock
from kaohe.org.actions import API_SCOPES, do_create_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(cast):
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    _key, secret = do_create_api_key(cast.ada, "everything", list(API_SCOPES))
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_a_nul_in_a_source_or_code_is_refused_not_a_crash(client, bearer):
    def post(path, body, method="post"):
        send = getattr(client, method)
        return send(path, body, content_type="application/json", **bearer).status_code

    assert post("/api/v1/facts", {"source": "cr\x00m", "items": []}) == 422
    assert (
        client.post("/api/v1/hooks/cr%00m", "{}", content_type="application/json").status_code
        == 401
    )
    assert client.get("/api/v1/employees/E0003%00/attainment", **bearer).status_code in {404, 422}
    target = {"employee": "E0003\x00", "metric": "a\x00", "period": "2026", "value": "1"}
    assert post("/api/v1/targets", {"items": [target]}, method="put") == 200
    assert Delivery.objects.filter(source_code="crm").exists()  # the webhook refusal, logged
