import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import translation

from kaohe.ledger.models import Entry
from kaohe.lib.canonical import canonical
from kaohe.lib.periods import Period
from kaohe.metrics.actions import (
    ActionError,
    BulkAssignError,
    FieldErrors,
    ItemSpec,
    do_bulk_assign,
    do_discard_draft,
    do_draft_agreement,
    do_publish_agreement,
    do_revise_agreement,
    do_save_metric,
    do_set_items,
    do_upsert_item,
    employees_targetable_by,
)
from kaohe.metrics.models import (
    Acknowledgement,
    Actual,
    AgreementState,
    AgreementVersion,
    Metric,
    TargetAgreement,
)
from kaohe.metrics.testing import make_metric, make_sales_metrics
from kaohe.org.actions import do_create_api_key
from kaohe.org.models import EmploymentStatus
from kaohe.org.testing import make_employee

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 2, 10, 2, 0, tzinfo=dt.UTC)
Q1 = Period.parse("2026-Q1")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False), translation.override("en"):
        yield


@pytest.fixture
def m(cast):
    return make_sales_metrics()


def entries(kind: str) -> list[dict]:
    return [json.loads(e.body) for e in Entry.objects.filter(kind=kind).order_by("index")]


def sales_items(m, amount="300000", weight="60", deals="30") -> list[ItemSpec]:
    return [
        ItemSpec(m["sales_amount"], amount, weight),
        ItemSpec(m["deals_signed"], deals, str(100 - int(weight))),
    ]


def published(cast, m, actor=None, employee=None) -> AgreementVersion:
    actor = actor or cast.hazel
    version = do_draft_agreement(actor, employee or cast.amy, Q1)
    do_set_items(actor, version, sales_items(m))
    return do_publish_agreement(actor, version)


# --- who may set targets --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["hazel", "mike", "dora", "ada"])
def test_her_hr_partner_her_managers_and_the_hr_admin_may_draft_for_amy(cast, m, who):
    actor = {"hazel": cast.hazel, "mike": cast.mike.user, "dora": cast.dora.user,
             "ada": cast.ada}[who]  # fmt: skip
    version = do_draft_agreement(actor, cast.amy, Q1)
    assert version.state == AgreementState.DRAFT and version.number == 1


@pytest.mark.parametrize("who", ["harry", "olga", "amy", "audrey"])
def test_outsiders_the_auditor_and_amy_herself_may_not_draft_for_amy(cast, m, who):
    actor = {"harry": cast.harry, "olga": cast.olga.user, "amy": cast.amy.user,
             "audrey": cast.audrey}[who]  # fmt: skip
    with pytest.raises(PermissionDenied):
        do_draft_agreement(actor, cast.amy, Q1)
    assert not TargetAgreement.objects.exists()


def test_not_even_an_hr_admin_sets_her_own_targets(cast, m):
    ada = make_employee("E0009", "艾达", cast.root, login="ada_employee")
    user = ada.user
    from kaohe.org.testing import grant

    grant(user, "hr_admin")
    assert not employees_targetable_by(user).filter(pk=ada.pk).exists()
    with pytest.raises(PermissionDenied):
        do_draft_agreement(user, ada, Q1)
    do_draft_agreement(user, cast.amy, Q1)  # others, yes


def test_a_manager_who_left_sets_no_targets_for_his_former_team(cast, m):
    cast.mike.status = EmploymentStatus.TERMINATED
    cast.mike.save()
    with pytest.raises(PermissionDenied):
        do_draft_agreement(cast.mike.user, cast.amy, Q1)


def test_nobody_drafts_for_someone_who_left(cast, m):
    cast.amy.status = EmploymentStatus.TERMINATED
    cast.amy.save()
    with pytest.raises(ActionError):
        do_draft_agreement(cast.hazel, cast.amy, Q1)


def test_an_api_key_needs_the_targets_scope_and_reaches_only_its_units(cast, m):
    key, _secret = do_create_api_key(None, "hris", ["targets:write"], [cast.south])
    assert list(employees_targetable_by(key)) == [cast.olga]
    reader, _secret = do_create_api_key(None, "reader", ["employees:read"])
    assert not employees_targetable_by(reader).exists()
    with pytest.raises(PermissionDenied):
        do_draft_agreement(key, cast.amy, Q1)
    version = do_draft_agreement(key, cast.olga, Q1)
    assert version.created_by is None
    assert entries("metrics.agreement.drafted")[-1]["actor"].startswith("apikey:")


# --- drafting, items, publishing --------------------------------------------------------------


def test_drafting_records_a_ledger_entry_about_the_employee(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, "2026-Q1")
    [entry] = entries("metrics.agreement.drafted")
    assert entry["subject"] == {
        "employee": "E0003",
        "agreement": str(version.agreement.public_id),
    }
    assert entry["payload"] == {"period": "2026-Q1", "version": 1, "note": ""}


def test_a_second_draft_of_the_same_agreement_is_refused(cast, m):
    do_draft_agreement(cast.hazel, cast.amy, Q1)
    with pytest.raises(ActionError, match="draft"):
        do_draft_agreement(cast.mike.user, cast.amy, Q1)


def test_a_bad_period_label_is_an_action_error(cast, m):
    with pytest.raises(ActionError):
        do_draft_agreement(cast.hazel, cast.amy, "2026-Q5")


def test_items_are_checked_and_reported_by_position_and_field(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    items = [
        ItemSpec(m["sales_amount"], "-5", "50"),
        ItemSpec(m["deals_signed"], "1.23456", "101"),
        ItemSpec(m["sales_amount"], "1", "1"),
    ]
    with pytest.raises(FieldErrors) as caught:
        do_set_items(cast.hazel, version, items)
    assert set(caught.value.errors) == {
        "items.0.target",
        "items.1.target",
        "items.1.weight",
        "items.2.metric",
    }
    assert not version.items.exists()


def test_setting_items_replaces_the_drafts_items(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    do_set_items(cast.hazel, version, sales_items(m))
    do_set_items(cast.hazel, version, [ItemSpec(m["sales_amount"], "1000.5", "100")])
    [item] = version.items.all()
    assert (item.metric.code, item.target, item.weight) == ("sales_amount", Decimal("1000.5"), 100)


def test_publishing_needs_items_whose_weights_add_up_to_100(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    with pytest.raises(ActionError, match="metric"):
        do_publish_agreement(cast.hazel, version)
    do_set_items(cast.hazel, version, sales_items(m, weight="60", deals="30")[:1])
    with pytest.raises(ActionError, match="60"):
        do_publish_agreement(cast.hazel, version)
    version.refresh_from_db()
    assert version.state == AgreementState.DRAFT


def test_publishing_puts_the_version_in_force_and_records_its_content_and_hash(cast, m):
    version = published(cast, m)
    version.refresh_from_db()
    agreement = version.agreement
    assert agreement.in_force == version
    assert version.state == AgreementState.PUBLISHED
    assert version.acknowledgement == Acknowledgement.PENDING
    assert (version.published_by, version.published_at) == (cast.hazel, NOW)
    [entry] = entries("metrics.agreement.published")
    content = entry["payload"]["content"]
    assert content["employee"] == {"employee_no": "E0003", "name": "艾米"}
    assert content["period"] == "2026-Q1"
    assert [(i["metric"], i["target"], i["weight"]) for i in content["items"]] == [
        ("deals_signed", "30", "40"),
        ("sales_amount", "300000", "60"),
    ]
    digest = hashlib.sha256(canonical(content)).hexdigest()
    assert entry["payload"]["content_sha256"] == digest == version.content_sha256
    assert entry["subject"]["agreement"] == str(agreement.public_id)


def test_a_published_version_no_longer_changes(cast, m):
    version = published(cast, m)
    with pytest.raises(ActionError, match="draft"):
        do_set_items(cast.hazel, version, sales_items(m))
    with pytest.raises(ActionError, match="draft"):
        do_publish_agreement(cast.hazel, version)
    with pytest.raises(ActionError, match="draft"):
        do_discard_draft(cast.hazel, version)


# --- versions ---------------------------------------------------------------------------------


def test_a_mid_period_change_is_a_new_version_with_a_reason(cast, m):
    first = published(cast, m)
    agreement = first.agreement
    with pytest.raises(FieldErrors):
        do_revise_agreement(cast.mike.user, agreement, "  ")
    second = do_revise_agreement(cast.mike.user, agreement, "大客户转给了新同事")
    assert second.number == 2 and second.note == "大客户转给了新同事"
    assert [(i.metric.code, i.target) for i in second.items.all()] == [
        ("deals_signed", 30),
        ("sales_amount", 300000),
    ]
    assert entries("metrics.agreement.drafted")[-1]["payload"]["based_on"] == 1
    do_set_items(cast.mike.user, second, sales_items(m, amount="200000"))
    agreement.refresh_from_db()
    assert agreement.in_force == first  # the draft changes nothing in force
    do_publish_agreement(cast.mike.user, second)

    first.refresh_from_db()
    second.refresh_from_db()
    agreement.refresh_from_db()
    assert first.state == AgreementState.SUPERSEDED
    assert agreement.in_force == second
    assert second.acknowledgement == Acknowledgement.PENDING
    payload = entries("metrics.agreement.published")[-1]["payload"]
    assert payload["supersedes"] == 1
    assert payload["content"]["note"] == "大客户转给了新同事"


def test_a_revision_needs_something_in_force_and_no_open_draft(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    with pytest.raises(ActionError):
        do_revise_agreement(cast.hazel, version.agreement, "why")
    do_set_items(cast.hazel, version, sales_items(m))
    do_publish_agreement(cast.hazel, version)
    do_revise_agreement(cast.hazel, version.agreement, "one")
    with pytest.raises(ActionError):
        do_revise_agreement(cast.hazel, version.agreement, "two")
    with pytest.raises(ActionError):
        do_draft_agreement(cast.hazel, cast.amy, Q1)


def test_discarding_a_draft_keeps_what_is_in_force(cast, m):
    first = published(cast, m)
    draft = do_revise_agreement(cast.hazel, first.agreement, "试一下")
    do_discard_draft(cast.hazel, draft)
    first.agreement.refresh_from_db()
    assert first.agreement.in_force == first
    assert list(first.agreement.versions.all()) == [first]
    assert entries("metrics.agreement.draft_discarded")[0]["payload"]["version"] == 2


def test_discarding_the_only_draft_removes_the_empty_agreement(cast, m):
    draft = do_draft_agreement(cast.hazel, cast.amy, Q1)
    with pytest.raises(PermissionDenied):
        do_discard_draft(cast.harry, draft)
    do_discard_draft(cast.hazel, draft)
    assert not TargetAgreement.objects.exists()


# --- monthly split ----------------------------------------------------------------------------


def test_a_quarter_target_of_a_sum_may_be_split_into_its_months(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    split = {"2026-01": "80000", "2026-02": "100000", "2026-03": "120000.00"}
    do_set_items(cast.hazel, version, [ItemSpec(m["sales_amount"], "300000", "100", split)])
    assert version.items.get().monthly == {
        "2026-01": "80000",
        "2026-02": "100000",
        "2026-03": "120000",
    }


@pytest.mark.parametrize(
    ("metric", "split", "message"),
    [
        ("sales_amount", {"2026-01": "100000", "2026-04": "200000"}, "2026-04"),
        ("sales_amount", {"2026-01": "100000", "2026-02": "100000"}, "200000"),
        ("sales_amount", {"2026-01": "abc"}, "2026-01"),
        ("satisfaction", {"2026-01": "300000"}, ""),
        ("attendance_rate", {"2026-01": "300000"}, ""),
    ],
)
def test_a_split_must_fit_the_period_add_up_and_belong_to_a_sum_or_count(
    cast, m, metric, split, message
):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    with pytest.raises(FieldErrors) as caught:
        do_set_items(cast.hazel, version, [ItemSpec(m[metric], "300000", "100", split)])
    assert message in caught.value.errors["items.0.monthly"]


def test_a_monthly_agreement_cannot_be_split(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, "2026-01")
    with pytest.raises(FieldErrors):
        do_set_items(
            cast.hazel, version, [ItemSpec(m["sales_amount"], "1", "100", {"2026-01": "1"})]
        )


def test_upserting_an_item_keeps_its_weight_and_a_split_that_still_adds_up(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    split = {"2026-01": "100", "2026-02": "100", "2026-03": "100"}
    do_set_items(cast.hazel, version, [ItemSpec(m["sales_amount"], "300", "70", split)])
    same = ItemSpec(m["sales_amount"], "300.00", "0")
    assert do_upsert_item(cast.hazel, version, same, keep_weight=True) is False
    assert do_upsert_item(cast.hazel, version, ItemSpec(m["sales_amount"], "600"),
                          keep_weight=True)  # fmt: skip
    item = version.items.get()
    assert (item.target, item.weight, item.monthly) == (600, 70, {})
    assert do_upsert_item(cast.hazel, version, ItemSpec(m["deals_signed"], "5", "30"),
                          keep_weight=False)  # fmt: skip
    assert version.items.count() == 2


# --- many at once -----------------------------------------------------------------------------


def test_bulk_assign_gives_everyone_the_same_items_and_may_publish(cast, m):
    extra = make_employee("E0005", "小王", cast.east_sales, cast.mike)
    versions = do_bulk_assign(cast.hazel, [cast.amy, extra], Q1, sales_items(m), publish=True)
    assert [v.agreement.employee.employee_no for v in versions] == ["E0003", "E0005"]
    assert all(v.state == AgreementState.PUBLISHED for v in versions)
    assert len(entries("metrics.agreement.published")) == 2
    [summary] = entries("metrics.agreement.bulk_assigned")
    assert summary["payload"]["employees"] == ["E0003", "E0005"]


def test_bulk_assign_is_all_or_nothing_and_names_every_refusal(cast, m):
    before = Entry.objects.count()
    with pytest.raises(BulkAssignError) as caught:
        do_bulk_assign(cast.hazel, [cast.amy, cast.olga], Q1, sales_items(m), publish=True)
    assert list(caught.value.reasons) == ["E0004"]
    assert not TargetAgreement.objects.exists()
    assert Entry.objects.count() == before


def test_bulk_assign_over_an_agreement_in_force_needs_a_reason(cast, m):
    published(cast, m)
    with pytest.raises(BulkAssignError) as caught:
        do_bulk_assign(cast.hazel, [cast.amy], Q1, sales_items(m, amount="1"), publish=True)
    assert "E0003" in caught.value.reasons
    [version] = do_bulk_assign(
        cast.hazel, [cast.amy], Q1, sales_items(m, amount="1"), publish=True, note="下调"
    )
    assert (version.number, version.note, version.state) == (2, "下调", "published")


def test_bulk_assign_refuses_bad_items_before_touching_anyone(cast, m):
    with pytest.raises(FieldErrors):
        do_bulk_assign(cast.hazel, [cast.amy], Q1, [ItemSpec(m["sales_amount"], "x", "100")])
    assert not TargetAgreement.objects.exists()


# --- metric definitions -----------------------------------------------------------------------


def metric_data(**changes) -> dict:
    data = {"code": "visits", "name_zh": "拜访次数", "name_en": "Customer visits",
            "unit": "count", "aggregation": "count", "direction": "higher",
            "sources": ["crm"]}  # fmt: skip
    return data | changes


def test_an_hr_admin_defines_a_metric_and_the_ledger_records_it(cast):
    metric = do_save_metric(cast.ada, metric_data(sources=["crm", "crm", "field-app"]))
    assert metric.sources == ["crm", "field-app"]
    [entry] = entries("metrics.metric.created")
    assert entry["subject"] == {"metric": "visits"}
    assert entry["payload"]["definition"]["aggregation"] == "count"
    assert entry["payload"]["definition"]["numerator"] is None


@pytest.mark.parametrize("who", ["hazel", "harry", "amy"])
def test_only_an_hr_admin_defines_metrics(cast, who):
    actor = {"hazel": cast.hazel, "harry": cast.harry, "amy": cast.amy.user}[who]
    with pytest.raises(PermissionDenied):
        do_save_metric(actor, metric_data())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "Visits"}, "code"),
        ({"code": "v"}, "code"),
        ({"sources": ["CRM"]}, "sources"),
        ({"sources": "crm"}, "sources"),
        ({"unit": "kg"}, "unit"),
        ({"aggregation": "median"}, "aggregation"),
        ({"name_zh": " "}, "name_zh"),
        ({"decimal_places": 5}, "decimal_places"),
        ({"aggregation": "ratio", "sources": []}, "numerator"),
        ({"numerator": "sales_amount"}, "numerator"),
    ],
)
def test_a_bad_definition_names_its_field(cast, m, changes, field):
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, metric_data(**changes))
    assert field in caught.value.errors


def test_a_ratio_is_made_of_two_metrics_that_are_not_ratios(cast, m):
    ratio = {"aggregation": "ratio", "unit": "percent"}
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, metric_data(**ratio, numerator="attendance_rate",
                                             denominator="nope", sources=[]))  # fmt: skip
    assert set(caught.value.errors) == {"numerator", "denominator"}
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, metric_data(**ratio, numerator="days_present",
                                             denominator="days_required"))  # fmt: skip
    assert set(caught.value.errors) == {"sources"}
    parts = {"numerator": "days_present", "denominator": "days_required", "sources": []}
    made = do_save_metric(cast.ada, metric_data(**ratio, **parts))
    assert (made.numerator, made.denominator) == (m["days_present"], m["days_required"])


def test_a_part_of_a_ratio_cannot_become_a_ratio(cast, m):
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, {"aggregation": "ratio", "numerator": "sales_amount",
                                  "denominator": "deals_signed"}, m["days_present"])  # fmt: skip
    assert "aggregation" in caught.value.errors


def test_the_aggregation_of_a_metric_with_facts_cannot_change(cast, m):
    metric = do_save_metric(cast.ada, {"aggregation": "average"}, m["sales_amount"])
    assert metric.aggregation == "average"
    Actual.objects.create(employee=cast.amy, metric=metric, month=dt.date(2026, 1, 1),
                          org_unit=cast.east_sales, total_e4=10, count=1,
                          updated_at=NOW)  # fmt: skip
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, {"aggregation": "sum"}, metric)
    assert "aggregation" in caught.value.errors
    renamed = do_save_metric(cast.ada, {"name_en": "Revenue"}, metric)
    assert renamed.name_en == "Revenue"
    assert entries("metrics.metric.changed")[-1]["payload"]["changes"] == {
        "name_en": ["sales_amount", "Revenue"]
    }


def test_an_unchanged_save_records_nothing(cast, m):
    before = Entry.objects.count()
    do_save_metric(cast.ada, {"name_en": "sales_amount"}, m["sales_amount"])
    assert Entry.objects.count() == before


def test_a_metric_code_is_taken_once(cast, m):
    with pytest.raises(FieldErrors):
        do_save_metric(cast.ada, metric_data(code="sales_amount"))
    assert Metric.objects.filter(code="sales_amount").count() == 1


def test_an_inactive_metric_cannot_be_given_a_new_target(cast, m):
    make_metric("old_metric", active=False)
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    with pytest.raises(FieldErrors):
        do_set_items(cast.hazel, version,
                     [ItemSpec(Metric.objects.get(code="old_metric"), "1", "100")])  # fmt: skip


# --- what an agreed metric measures -----------------------------------------------------------


def refused_fields(actor, changes: dict, metric: Metric) -> set[str]:
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(actor, changes, metric)
    return set(caught.value.errors)


@pytest.mark.parametrize(
    "changes",
    [
        {"direction": "lower"},
        {"unit": "count"},
        {"aggregation": "average"},
        {"decimal_places": 1},
    ],
)
def test_what_a_metric_in_a_published_agreement_measures_can_no_longer_change(cast, m, changes):
    published(cast, m)  # no facts have arrived yet
    metric = m["sales_amount"]
    assert refused_fields(cast.ada, changes, metric) == set(changes)
    metric.refresh_from_db()
    assert (metric.direction, metric.unit, metric.aggregation, metric.decimal_places) == (
        "higher", "cny", "sum", 2)  # fmt: skip


def test_the_refusal_tells_hr_to_define_a_new_metric(cast, m):
    published(cast, m)
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, {"direction": "lower"}, m["sales_amount"])
    assert "new metric" in caught.value.errors["direction"]


def test_names_sources_and_more_decimal_places_of_an_agreed_metric_may_change(cast, m):
    published(cast, m)
    changes = {"name_zh": "销售额", "name_en": "Revenue", "sources": ["crm", "erp"],
               "decimal_places": 3, "direction": "higher"}  # fmt: skip
    metric = do_save_metric(cast.ada, changes, m["sales_amount"])
    assert (metric.name_en, metric.sources, metric.decimal_places) == (
        "Revenue", ["crm", "erp"], 3)  # fmt: skip


def test_a_metric_only_in_a_superseded_version_stays_fixed(cast, m):
    first = published(cast, m)
    second = do_revise_agreement(cast.hazel, first.agreement, "只考核签单数")
    do_set_items(cast.hazel, second, [ItemSpec(m["deals_signed"], "30", "100")])
    do_publish_agreement(cast.hazel, second)
    assert refused_fields(cast.ada, {"direction": "lower"}, m["sales_amount"]) == {"direction"}


def test_a_metric_only_in_a_draft_may_still_change(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    do_set_items(cast.hazel, version, sales_items(m))
    metric = do_save_metric(cast.ada, {"direction": "lower", "unit": "count"}, m["sales_amount"])
    assert (metric.direction, metric.unit) == ("lower", "count")


def test_an_agreed_ratio_keeps_its_parts_and_its_parts_keep_their_meaning(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    do_set_items(cast.hazel, version, [ItemSpec(m["attendance_rate"], "95", "100")])
    do_publish_agreement(cast.hazel, version)
    ratio = m["attendance_rate"]
    swap = {"numerator": "days_required", "denominator": "days_present"}
    assert refused_fields(cast.ada, swap, ratio) == {"numerator", "denominator"}
    assert refused_fields(cast.ada, {"unit": "score"}, ratio) == {"unit"}
    assert refused_fields(cast.ada, {"aggregation": "average"}, m["days_present"]) == {
        "aggregation"
    }


@pytest.mark.parametrize("changes", [{"direction": "lower"}, {"unit": "count"}])
def test_what_a_metric_with_facts_measures_can_no_longer_change(cast, m, changes):
    Actual.objects.create(employee=cast.amy, metric=m["sales_amount"], month=dt.date(2026, 1, 1),
                          org_unit=cast.east_sales, total_e4=10, count=1,
                          updated_at=NOW)  # fmt: skip
    assert refused_fields(cast.ada, changes, m["sales_amount"]) == set(changes)
    # Without an agreement, showing fewer decimal places hides nothing agreed.
    assert do_save_metric(cast.ada, {"decimal_places": 0}, m["sales_amount"]).decimal_places == 0


def test_a_ratio_whose_parts_have_facts_keeps_its_parts(cast, m):
    Actual.objects.create(employee=cast.amy, metric=m["days_present"], month=dt.date(2026, 1, 1),
                          org_unit=cast.east_sales, total_e4=10, count=1,
                          updated_at=NOW)  # fmt: skip
    swap = {"numerator": "days_required", "denominator": "days_present"}
    assert refused_fields(cast.ada, swap, m["attendance_rate"]) == {"numerator", "denominator"}


def test_a_metric_in_an_agreement_in_force_stays_in_use_until_its_period_ends(cast, m):
    published(cast, m)
    with pytest.raises(FieldErrors) as caught:
        do_save_metric(cast.ada, {"active": False}, m["deals_signed"])
    assert "in force" in caught.value.errors["active"]
    assert Metric.objects.get(code="deals_signed").active
    april_first = dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC)  # 01:00 in Shanghai
    with time_machine.travel(april_first, tick=False):
        assert not do_save_metric(cast.ada, {"active": False}, m["deals_signed"]).active


def test_a_part_of_a_ratio_in_force_stays_in_use(cast, m):
    version = do_draft_agreement(cast.hazel, cast.amy, Q1)
    do_set_items(cast.hazel, version, [ItemSpec(m["attendance_rate"], "95", "100")])
    do_publish_agreement(cast.hazel, version)
    assert refused_fields(cast.ada, {"active": False}, m["days_required"]) == {"active"}


def test_a_metric_no_longer_in_force_may_be_taken_out_of_use(cast, m):
    first = published(cast, m)
    second = do_revise_agreement(cast.hazel, first.agreement, "只考核签单数")
    do_set_items(cast.hazel, second, [ItemSpec(m["deals_signed"], "30", "100")])
    do_publish_agreement(cast.hazel, second)
    assert not do_save_metric(cast.ada, {"active": False}, m["sales_amount"]).active
