import pytest

from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.lib.verify import VerifyError, parse_keys, verify_document
from kaohe.org.actions import do_create_api_key
from kaohe.org.evidence import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def amy_entry(cast):
    entry = record("test.result_signed", cast.ada, {"score": "72.50"}, cast.amy)
    record("test.result_signed", cast.ada, {"score": "90.00"}, cast.olga)
    make_checkpoint(force=True)
    return entry


def bearer(scopes, units=()):
    _key, secret = do_create_api_key(None, "dms", scopes, list(units))
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_anyone_fetches_the_public_keys_and_they_verify_a_proof(client, cast, amy_entry):
    keys = parse_keys(client.get("/api/v1/ledger/keys").json())
    proof = client.get(
        f"/api/v1/ledger/entries/{amy_entry.index}/proof", **bearer(["documents:read"])
    ).json()
    assert verify_document(proof, keys)


def test_a_proof_needs_the_documents_scope_and_reach(client, cast, amy_entry):
    url = f"/api/v1/ledger/entries/{amy_entry.index}/proof"
    assert client.get(url).status_code == 401
    assert client.get(url, **bearer(["employees:read"])).status_code == 403
    south_only = bearer(["documents:read"], [cast.south])
    assert client.get(url, **south_only).status_code == 404


def test_sessions_get_proofs_only_for_people_they_may_see(cast, client_for, amy_entry):
    url = f"/api/v1/ledger/entries/{amy_entry.index}/proof"
    assert client_for(cast.hazel).get(url).status_code == 200
    assert client_for(cast.amy.user).get(url).status_code == 200
    assert client_for(cast.harry).get(url).status_code == 404
    assert client_for(cast.olga.user).get(url).status_code == 404
    assert client_for(cast.amy.user).get("/api/v1/ledger/entries/999/proof").status_code == 404


def test_consistency_between_two_checkpoints_verifies(client, cast, amy_entry):
    record("test.later", cast.ada, {}, cast.amy)
    make_checkpoint(force=True)
    headers = bearer(["documents:read"])
    document = client.get("/api/v1/ledger/consistency?old=2&new=3", **headers).json()
    assert verify_document(document, None)
    assert client.get("/api/v1/ledger/consistency?old=3&new=2", **headers).status_code == 404
    assert client.get("/api/v1/ledger/consistency?old=1&new=3", **headers).status_code == 404


def test_the_latest_checkpoint_needs_a_login(client, cast, amy_entry):
    assert client.get("/api/v1/ledger/checkpoints/latest").status_code == 401
    latest = client.get("/api/v1/ledger/checkpoints/latest", **bearer(["documents:read"]))
    assert latest.json()["tree_size"] == 2


def test_the_served_checkpoint_verifies_offline_with_the_served_keys(client, cast, amy_entry):
    make_checkpoint(force=True)  # a second one, chained to the first
    latest = client.get("/api/v1/ledger/checkpoints/latest", **bearer(["documents:read"])).json()
    keys = parse_keys(client.get("/api/v1/ledger/keys").json())

    assert latest["previous"] and len(latest["previous"]) == 64
    assert verify_document(latest, keys)  # raises VerifyError when it does not verify
    with pytest.raises(VerifyError):
        verify_document(latest | {"previous": "0" * 64}, keys)
