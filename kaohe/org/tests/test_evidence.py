"""Org changes leave entries in the evidence ledger, in the same transaction."""

import datetime as dt
import io
import json

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse

from kaohe.ledger.models import Entry
from kaohe.org import actions
from kaohe.org.evidence import entries_about, entries_visible_to
from kaohe.org.people_io import import_people

pytestmark = pytest.mark.django_db
TODAY = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)


def last(kind: str) -> dict:
    return json.loads(Entry.objects.filter(kind=kind).latest("index").body)


@time_machine.travel(TODAY, tick=False)
def test_a_manager_change_is_recorded_with_who_and_when(cast):
    actions.do_change_manager(cast.hazel, cast.amy, cast.dora, dt.date(2026, 5, 1), "重组")
    entry = last("org.employee.manager_changed")
    assert entry["subject"] == {"employee": "E0003"}
    assert entry["actor"] == f"user:{cast.hazel.pk}:hazel"
    assert entry["payload"] == {"manager": "E0001", "effective": "2026-05-01", "reason": "重组"}
    assert entry["at"].startswith("2026-06-15T10:00:00")


def test_a_corrected_hire_date_keeps_the_old_one_on_record(cast):
    actions.do_upsert_employee(cast.ada, {"employee_no": "E0003", "hire_date": dt.date(2001, 1, 1)})
    entry = last("org.employee.updated")
    assert entry["payload"]["changes"] == {"hire_date": ["2020-03-01", "2001-01-01"]}


def test_a_refused_change_leaves_no_entry(cast):
    before = Entry.objects.count()
    with pytest.raises(actions.ActionError):
        actions.do_change_manager(cast.ada, cast.dora, cast.amy, dt.date(2026, 5, 1))
    assert Entry.objects.count() == before


def test_a_rolled_back_transaction_takes_its_entry_with_it(cast):
    before = Entry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.do_update_company(cast.ada, has_union=True)
        raise RuntimeError
    assert Entry.objects.count() == before


def test_roles_invitations_and_keys_are_recorded(cast, client_for):
    from kaohe.org.models import RoleAssignment

    actions.do_assign_role(cast.ada, cast.mike.user, "auditor")
    actions.do_revoke_role(cast.ada, RoleAssignment.objects.get(user=cast.mike.user))
    cast.olga.user = None
    cast.olga.save()
    actions.do_invite(cast.harry, cast.olga)
    actions.do_create_api_key(cast.ada, "crm", ["facts:write"])
    kinds = list(Entry.objects.values_list("kind", flat=True))
    assert kinds == [
        "org.role.granted",
        "org.role.revoked",
        "account.invitation.sent",
        "api.key.created",
    ]
    assert last("org.role.revoked")["subject"]["employee"] == "E0002"


def test_a_page_request_records_the_callers_ip_and_browser(cast, client_for):
    client = client_for(cast.ada)
    client.post(
        reverse("front:company_settings"),
        {"name": "新", "timezone": "Asia/Shanghai", "deadline_day_kind": "working"},
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT="Mozilla/5.0 test",
    )
    entry = last("company.settings.changed")
    assert entry["request"] == {"ip": "198.51.100.7", "user_agent": "Mozilla/5.0 test"}
    assert entry["payload"]["changes"]["name"] == ["测试公司", "新"]


def test_an_import_records_the_files_hash_and_every_change(cast):
    data = (
        "工号,姓名,组织编码,入职日期\nE0003,艾米,EAST-S,2019-01-01\nE0300,新人,SOUTH,2026-01-05\n"
    )
    result = import_people(io.BytesIO(data.encode()), actor=cast.ada)
    assert result.ok
    summary = last("org.people.imported")["payload"]
    assert len(summary["file_sha256"]) == 64
    assert (summary["created"], summary["updated"]) == (1, 1)
    created, updated = last("org.employee.created"), last("org.employee.updated")
    assert created["subject"] == {"employee": "E0300"}
    assert created["payload"]["fields"]["hire_date"] == "2026-01-05"
    assert updated["payload"]["changes"] == {"hire_date": ["2020-03-01", "2019-01-01"]}
    assert updated["payload"]["file_sha256"] == summary["file_sha256"]
    assert entries_about(cast.amy.user).filter(kind="org.employee.updated").exists()


def test_entries_are_visible_to_whoever_may_see_their_employee(cast):
    actions.do_change_manager(cast.ada, cast.amy, cast.dora, dt.date(2026, 5, 1))
    index = Entry.objects.get(kind="org.employee.manager_changed").index
    assert entries_visible_to(cast.hazel).filter(index=index).exists()
    assert entries_visible_to(cast.audrey).filter(index=index).exists()
    assert entries_about(cast.amy.user).filter(index=index).exists()
    assert not entries_visible_to(cast.harry).filter(index=index).exists()
    assert not entries_visible_to(cast.olga.user).filter(index=index).exists()
