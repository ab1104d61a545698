import re

import pytest
from django.test import Client
from django.urls import reverse

from kaohe.integrations.models import Source
from kaohe.lib import clock
from kaohe.org.actions import do_create_api_key, find_api_key
from kaohe.org.models import ApiKey

pytestmark = pytest.mark.django_db

URL = reverse("front:api_keys")


def revoke_url(key) -> str:
    return reverse("front:revoke_api_key", args=[key.public_id])


def create(client, **fields):
    data = {"name": "crm", "scopes": ["facts:write", "employees:read"]} | fields
    return client.post(URL, data)


def test_anonymous_visitors_are_sent_to_login(cast):
    key, _secret = do_create_api_key(None, "crm", ["facts:write"])
    for response in (Client().get(URL), Client().post(revoke_url(key))):
        assert response.status_code == 302 and "/login/" in response.url


@pytest.mark.parametrize("who", ["hazel", "harry", "audrey", "amy"])
def test_only_hr_admins_may_see_create_or_revoke_keys(cast, client_for, who):
    user = {"hazel": cast.hazel, "harry": cast.harry, "audrey": cast.audrey, "amy": cast.amy.user}
    client = client_for(user[who])
    key, _secret = do_create_api_key(None, "crm", ["facts:write"])
    assert client.get(URL).status_code == 403
    assert create(client).status_code == 403
    assert client.post(revoke_url(key)).status_code == 403
    assert ApiKey.objects.get().revoked_at is None


def test_the_list_shows_keys_but_never_their_secrets(cast, client_for):
    key, secret = do_create_api_key(cast.ada, "crm", ["facts:write"], [cast.east])
    response = client_for(cast.ada).get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "crm" in html and key.prefix in html and cast.east.name in html
    assert secret not in html and key.key_hash not in html
    assert 'id="new-secret"' not in html


def test_creating_a_key_shows_its_working_secret_once(cast, client_for):
    ada = client_for(cast.ada)
    response = create(ada, org_units=["EAST"])
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = re.search(r'id="new-secret" value="([^"]+)"', html).group(1)
    key = find_api_key(secret)
    assert (key.name, key.created_by, list(key.org_units.all())) == ("crm", cast.ada, [cast.east])
    assert key.scopes == ["employees:read", "facts:write"]
    assert secret not in ada.get(URL).content.decode()
    api = Client().get("/api/v1/org-units", headers={"Authorization": f"Bearer {secret}"})
    assert [unit["code"] for unit in api.json()["items"]] == ["EAST", "EAST-S"]


def test_a_key_can_be_limited_to_sources(cast, client_for):
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    response = create(client_for(cast.ada), sources=["crm"])

    secret = re.search(r'id="new-secret" value="([^"]+)"', response.content.decode()).group(1)
    assert find_api_key(secret).sources == ["crm"]
    assert "crm" in client_for(cast.ada).get(URL).content.decode()


def test_sources_need_the_facts_scope(cast, client_for):
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    response = create(client_for(cast.ada), scopes=["employees:read"], sources=["crm"])

    assert "facts:write" in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sources": ["nope"]}, "sources"),
        ({"scopes": []}, "scopes"),
        ({"name": ""}, "name"),
        ({"scopes": ["root"]}, "scopes"),
    ],
)
def test_a_key_needs_a_name_and_known_scopes(cast, client_for, fields, field):
    response = create(client_for(cast.ada), **fields)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_revoking_a_key_refuses_its_next_request(cast, client_for):
    key, secret = do_create_api_key(None, "crm", ["employees:read"])
    ada = client_for(cast.ada)
    assert ada.get(revoke_url(key)).status_code == 405
    response = ada.post(revoke_url(key), follow=True)
    assert response.redirect_chain[-1][0] == URL
    key.refresh_from_db()
    assert key.revoked_at is not None
    api = Client().get("/api/v1/employees", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401


def test_revoking_an_unknown_key_is_a_404(cast, client_for):
    response = client_for(cast.ada).post(
        reverse("front:revoke_api_key", args=["00000000-0000-0000-0000-000000000000"])
    )
    assert response.status_code == 404
