import json

import pytest
from django.urls import reverse

from kaohe.ledger import tree
from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.lib.verify import verify_document
from kaohe.org.evidence import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(cast):
    about_amy = record("test.result_signed", cast.ada, {"score": "72.50"}, cast.amy)
    about_olga = record("test.result_signed", cast.ada, {"score": "90.00"}, cast.olga)
    company = record("company.settings.changed", cast.ada, {"changes": {}})
    make_checkpoint(force=True)
    return about_amy, about_olga, company


def test_the_auditor_searches_the_log_by_employee(cast, client_for, entries):
    page = client_for(cast.audrey).get(reverse("front:audit_log"), {"employee": "E0003"})
    body = page.content.decode()
    assert page.status_code == 200
    assert reverse("front:ledger_entry", args=[entries[0].index]) in body
    assert reverse("front:ledger_entry", args=[entries[1].index]) not in body


@pytest.mark.parametrize(
    ("invalid", "error"),
    [
        ({"date_from": "2020-02-30"}, "输入一个有效的日期。"),
        ({"employee": "E0003 pasted with more text after it"}, "确保该变量包含不超过 32 字符"),
        ({"kind": "k" * 65}, "确保该变量包含不超过 64 字符"),
    ],
    ids=["date", "employee", "kind"],
)
def test_a_search_field_that_does_not_validate_shows_its_error_and_no_entries(
    cast, client_for, entries, invalid, error
):
    query = {"employee": "E0003", **invalid}
    page = client_for(cast.audrey).get(reverse("front:audit_log"), query)
    body = page.content.decode()
    assert page.status_code == 200
    assert error in body
    for entry in entries:
        assert reverse("front:ledger_entry", args=[entry.index]) not in body


def test_a_bad_page_position_is_ignored_and_the_filters_still_apply(cast, client_for, entries):
    query = {"employee": "E0003", "before": "-1"}  # the hidden paging field
    body = client_for(cast.audrey).get(reverse("front:audit_log"), query).content.decode()
    assert reverse("front:ledger_entry", args=[entries[0].index]) in body
    assert reverse("front:ledger_entry", args=[entries[1].index]) not in body


def test_the_auditor_sees_the_latest_checkpoint(cast, client_for, entries):
    body = client_for(cast.audrey).get(reverse("front:audit_log")).content.decode()
    size = tree.size()
    assert size == 3
    # Its size and the start of its root hash, which only the checkpoints' table shows.
    assert f"<tr><td>{size}</td>" in body
    assert f"<code>{tree.root(size).hex()[:17]}" in body


def test_hr_partners_and_employees_may_not_browse_the_whole_log(cast, client_for, entries):
    for user in (cast.hazel, cast.amy.user, cast.mike.user):
        assert client_for(user).get(reverse("front:audit_log")).status_code == 403


def test_an_employee_sees_her_own_entries_and_downloads_a_proof_that_verifies(
    cast, client_for, entries
):
    client = client_for(cast.amy.user)
    mine = client.get(reverse("front:my_evidence")).content.decode()
    assert reverse("front:ledger_entry", args=[entries[0].index]) in mine
    assert reverse("front:ledger_entry", args=[entries[1].index]) not in mine
    detail = client.get(reverse("front:ledger_entry", args=[entries[0].index]))
    assert "72.50" in detail.content.decode()
    proof = client.get(reverse("front:ledger_entry_proof", args=[entries[0].index]))
    assert proof["Content-Disposition"].startswith("attachment")
    report = verify_document(json.loads(proof.content), None)
    assert report


def test_nobody_opens_an_entry_about_someone_they_may_not_see(cast, client_for, entries):
    client = client_for(cast.amy.user)
    for index in (entries[1].index, entries[2].index):
        assert client.get(reverse("front:ledger_entry", args=[index])).status_code == 404
        assert client.get(reverse("front:ledger_entry_proof", args=[index])).status_code == 404


def test_the_audit_list_pages_by_index(cast, client_for, entries, monkeypatch):
    monkeypatch.setattr("kaohe.front.views.audit.PAGE_SIZE", 2)
    body = client_for(cast.ada).get(reverse("front:audit_log")).content.decode()
    assert f"before={entries[1].index}" in body


def test_entries_are_listed_with_a_readable_kind(cast, client_for, entries):
    body = client_for(cast.ada).get(reverse("front:audit_log")).content.decode()
    assert "公司设置变更" in body and "company.settings.changed" in body
