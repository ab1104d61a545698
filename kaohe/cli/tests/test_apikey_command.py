import io
import re

import pytest
from django.core.management import CommandError, call_command

from kaohe.integrations.models import Source
from kaohe.lib import clock
from kaohe.org.actions import find_api_key
from kaohe.org.models import ApiKey

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"^kh_([0-9a-f]{8})_[A-Za-z0-9_-]{40,}$")


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_secret_alone_on_stdout_and_says_it_is_shown_once(cast):
    out, err = run("create", "crm", "--scope", "facts:write", "--scope", "employees:read")
    secret = out.strip()
    assert SECRET.match(secret)
    assert "will not be shown again" in err
    key = find_api_key(secret)
    assert (key.name, key.scopes, key.created_by) == (
        "crm",
        ["employees:read", "facts:write"],
        None,
    )
    assert secret not in str(ApiKey.objects.values_list().get())


def test_create_limits_the_key_to_the_org_units_named(cast):
    out, _err = run(
        "create", "east-crm", "--scope", "facts:write", "--org-unit", "EAST", "--org-unit", "SOUTH"
    )
    key = find_api_key(out.strip())
    assert sorted(key.org_units.values_list("code", flat=True)) == ["EAST", "SOUTH"]


def test_create_limits_the_key_to_the_sources_named(cast):
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    out, _err = run("create", "crm", "--scope", "facts:write", "--source", "crm")

    assert find_api_key(out.strip()).sources == ["crm"]


@pytest.mark.parametrize(
    "args",
    [
        ("create", "crm", "--scope", "facts:write", "--source", "erp"),
        ("create", "crm", "--scope", "employees:read", "--source", "crm"),
        ("create", "crm"),
        ("create", "crm", "--scope", "everything"),
        ("create", "crm", "--scope", "facts:write", "--org-unit", "NOWHERE"),
    ],
)
def test_create_refuses_missing_or_unknown_scopes_units_and_sources(cast, args):
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    with pytest.raises(CommandError):
        run(*args)
    assert not ApiKey.objects.exists()


def test_list_shows_every_key_without_its_secret(cast):
    secret = run("create", "crm", "--scope", "facts:write", "--org-unit", "EAST")[0].strip()
    prefix = SECRET.match(secret).group(1)
    out, _err = run("list")
    header, row = out.splitlines()
    assert header.split()[:3] == ["PREFIX", "NAME", "SCOPES"]
    assert row.split()[:4] == [prefix, "crm", "facts:write", "EAST"]
    assert row.rstrip().endswith("active")
    assert secret not in out


def test_list_says_when_there_are_no_keys(cast):
    assert run("list")[0].strip() == "No API keys."


def test_revoke_ends_a_key_by_its_prefix(cast):
    secret = run("create", "crm", "--scope", "facts:write")[0].strip()
    prefix = SECRET.match(secret).group(1)
    out, _err = run("revoke", prefix)
    assert "Revoked key crm" in out
    assert find_api_key(secret) is None
    assert "already revoked" in run("revoke", f"kh_{prefix}_")[0]
    assert "revoked" in run("list")[0].splitlines()[1]


def test_revoke_refuses_an_unknown_prefix(cast):
    with pytest.raises(CommandError, match="No API key"):
        run("revoke", "00000000")
