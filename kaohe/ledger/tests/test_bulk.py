"""The bulk loader writes what `append` would, only faster."""

import json

import pytest
from django.db import transaction

from kaohe.ledger.audit import check_log
from kaohe.ledger.bulk import append_many
from kaohe.ledger.log import EntryError, append
from kaohe.ledger.models import Entry, LogHead, Node
from kaohe.lib import merkle

pytestmark = pytest.mark.django_db


def items(start: int, stop: int):
    return [("fact.imported", {"employee": f"E{n % 4}", "fact": f"F-{n}"}, "apikey:ab12:crm",
             {"value": str(n)}) for n in range(start, stop)]  # fmt: skip


def test_loaded_entries_continue_the_log_and_its_tree():
    for kind, subject, actor, payload in items(0, 3):
        append(kind, subject, actor, payload)
    assert append_many(items(3, 40), batch=16) == 37
    assert list(Entry.objects.values_list("index", flat=True)) == list(range(40))
    assert LogHead.objects.get().size == 40
    for entry in Entry.objects.all():
        assert json.loads(entry.body)["payload"] == {"value": str(entry.index)}
        assert entry.employee_no == f"E{entry.index % 4}"
    builder = merkle.TreeBuilder()
    expected = {}
    for body in Entry.objects.values_list("body", flat=True):
        expected.update(builder.append(merkle.leaf_hash(body.encode())))
    stored = {divmod(pk, 1 << 56): bytes(h) for pk, h in Node.objects.values_list("id", "hash")}
    assert stored == expected
    assert check_log().ok


def test_a_bad_item_refuses_its_batch_before_the_log_is_touched():
    bad = [*items(0, 2), ("fact.imported", {"employee": 42}, "x", {})]
    with pytest.raises(EntryError), transaction.atomic():
        append_many(bad)
    assert not Entry.objects.exists()
    assert append_many(items(0, 1)) == 1
