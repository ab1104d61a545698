"""Field mappings: checked when saved, applied record by record, and the shipped presets
against bodies as the vendors document them (see vendor_samples.py for the documents)."""

import copy
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kaohe.integrations import presets
from kaohe.integrations.mapping import (
    DocumentFault,
    MappingInvalid,
    check_mapping,
    map_document,
)
from kaohe.integrations.tests.vendor_samples import DINGTALK_LIST, WECOM_CHECKINDATA

SHANGHAI = ZoneInfo("Asia/Shanghai")
CRM = {
    "items": "data.deals",
    "fields": {
        "external_id": {"template": "crm-{id}"},
        "employee": "owner.no",
        "metric": {"const": "sales_amount"},
        "value": {"path": "amount_fen", "multiply": "0.01"},
        "occurred_at": {"path": "won_at", "format": "local"},
        "attributes": {"customer": "customer.name", "stage": "stage"},
    },
}


def document(*deals) -> dict:
    return json.loads(json.dumps({"data": {"deals": list(deals)}}), parse_float=Decimal)


def deal(deal_id=1, **fields) -> dict:
    return {"id": deal_id, "owner": {"no": "E0003"}, "amount_fen": 12500050,
            "won_at": "2026-01-15 10:00:00", "customer": {"name": "华东某客户"},
            "stage": "won", **fields}  # fmt: skip


def errors_of(mapping) -> dict:
    with pytest.raises(MappingInvalid) as raised:
        check_mapping(mapping)
    return dict(raised.value.errors)


# --- applying ---------------------------------------------------------------------------


def test_it_turns_records_into_fact_items():
    mapped = map_document(CRM, document(deal(), deal(2, amount_fen=100)), SHANGHAI)

    assert mapped.items[0] == {
        "external_id": "crm-1",
        "employee": "E0003",
        "metric": "sales_amount",
        "value": "125000.5",
        "occurred_at": "2026-01-15T10:00:00+08:00",
        "attributes": {"customer": "华东某客户", "stage": "won"},
    }
    assert mapped.items[1]["value"] == "1"
    assert mapped.origins == [0, 1] and mapped.rejected == [] and mapped.skipped == 0


@pytest.mark.parametrize(
    ("time_format", "raw", "expected"),
    [
        ("epoch_s", 1768442400, "2026-01-15T10:00:00+08:00"),
        ("epoch_ms", 1768442400123, "2026-01-15T10:00:00.123000+08:00"),
        ("epoch_ms", "1768442400000", "2026-01-15T10:00:00+08:00"),
        ("local", "2026-01-15 10:00:00", "2026-01-15T10:00:00+08:00"),
        ("iso", "2026-01-15T02:00:00Z", "2026-01-15T02:00:00+00:00"),
        ("iso", "2026-01-15T10:00:00", "2026-01-15T10:00:00+08:00"),
        ("date", "2026-01-15", "2026-01-15T00:00:00+08:00"),
    ],
)
def test_it_reads_times_in_every_format(time_format, raw, expected):
    mapping = copy.deepcopy(CRM)
    mapping["fields"]["occurred_at"] = {"path": "won_at", "format": time_format}

    mapped = map_document(mapping, document(deal(won_at=raw)), SHANGHAI)

    assert mapped.items[0]["occurred_at"] == expected


def test_a_faulty_record_is_rejected_with_its_index_and_field_and_the_rest_applies():
    records = [deal(1), deal(2, won_at="15/01/2026"), "not an object", deal(4, owner={})]

    mapped = map_document(CRM, document(*records), SHANGHAI)

    assert [item["external_id"] for item in mapped.items] == ["crm-1"]
    faults = [(r.index, r.field, r.code) for r in mapped.rejected]
    assert faults == [(1, "occurred_at", "bad_time"), (2, "", "type"),
                      (3, "employee", "missing")]  # fmt: skip
    assert "won_at" in mapped.rejected[0].message


def test_a_list_or_object_where_a_single_value_belongs_rejects_the_record():
    records = [deal(1, stage=["won", "lost"]), deal({"n": 2}), deal(3, owner={"no": True})]

    mapped = map_document(CRM, document(*records), SHANGHAI)

    assert [(r.index, r.field, r.code) for r in mapped.rejected] == [
        (0, "attributes.stage", "type"), (1, "external_id", "type"), (2, "employee", "type")
    ]  # fmt: skip


def test_when_conditions_skip_records_and_lookups_translate_values():
    mapping = copy.deepcopy(CRM)
    mapping["when"] = [{"path": "stage", "in": ["won", "paid"]}, {"path": "test", "exists": False}]
    mapping["fields"]["employee"] = {"path": "owner.id", "lookup": "people", "unmatched": "keep"}
    mapping["tables"] = {"people": {"u-7": "E0007"}}
    records = [deal(1, owner={"id": "u-7"}), deal(2, owner={"id": "E0009"}),
               deal(3, stage="lost"), deal(4, test=True)]  # fmt: skip

    mapped = map_document(mapping, document(*records), SHANGHAI)

    assert [item["employee"] for item in mapped.items] == ["E0007", "E0009"]
    assert mapped.skipped == 2


def test_an_unmatched_lookup_rejects_the_record_unless_a_default_is_given():
    mapping = copy.deepcopy(CRM)
    mapping["fields"]["metric"] = {"path": "stage", "lookup": {"won": "sales_amount"}}

    mapped = map_document(mapping, document(deal(1), deal(2, stage="lost")), SHANGHAI)

    assert [(r.index, r.field, r.code) for r in mapped.rejected] == [(1, "metric", "unmatched")]
    mapping["fields"]["metric"]["default"] = "pipeline_amount"
    mapped = map_document(mapping, document(deal(2, stage="lost")), SHANGHAI)
    assert mapped.items[0]["metric"] == "pipeline_amount"


def test_the_whole_body_may_be_the_list_or_a_single_record():
    mapping = {**CRM, "items": "$"}

    assert len(map_document(mapping, [deal(1), deal(2)], SHANGHAI).items) == 2
    assert len(map_document(mapping, deal(1), SHANGHAI).items) == 1


def test_a_body_without_the_list_or_reporting_an_error_is_refused_as_a_whole():
    with pytest.raises(DocumentFault, match=r"data\.deals"):
        map_document(CRM, {"data": {}}, SHANGHAI)
    mapping = {**CRM, "ok_when": [{"path": "errcode", "equals": 0}], "error_message": "errmsg"}
    with pytest.raises(DocumentFault, match="invalid access_token"):
        map_document(mapping, {"errcode": 40014, "errmsg": "invalid access_token"}, SHANGHAI)


def test_records_mapped_to_the_same_external_id_leave_the_last_standing():
    mapped = map_document(CRM, document(deal(1), deal(2), deal(1, amount_fen=1)), SHANGHAI)

    assert [(i["external_id"], i["value"]) for i in mapped.items] == [
        ("crm-2", "125000.5"),
        ("crm-1", "0.01"),
    ]
    assert mapped.origins == [1, 2] and mapped.skipped == 1


def test_paging_keys_read_the_next_cursor_and_whether_more_follows():
    mapping = {**CRM, "next_cursor": "data.next", "has_more": "data.more"}
    body = {"data": {"deals": [deal()], "next": 1200, "more": True}}

    mapped = map_document(mapping, body, SHANGHAI)

    assert (mapped.next_cursor, mapped.has_more) == ("1200", True)


def huge(text: str) -> Decimal:
    return json.loads(text, parse_float=Decimal)


def as_parsed(*deals) -> dict:
    """The body as parse_json would give it, numbers too large for json.dumps included."""
    return {"data": {"deals": list(deals)}}


def test_numbers_too_large_for_the_decimal_context_reject_only_their_record():
    mapping = copy.deepcopy(CRM)
    mapping["fields"]["value"] = "amount"
    mapping["fields"]["employee"] = {"path": "owner.no", "lookup": {"1": "E0001"},
                                     "unmatched": "keep"}  # fmt: skip
    records = [
        deal(huge("1e30"), amount=1),  # template {id}
        deal(2, amount=huge("1e30")),  # written out; ingest says it is too large
        deal(3, amount=huge("1e5000")),
        deal(4, amount=1, owner={"no": 10**40}),  # a lookup key
        deal(5, amount=1, stage=huge("1e5000")),  # an attribute
        deal(6, amount=1, stage=2**53, customer={"name": 12}),
        deal(7, amount=1, won_at=huge("1e5000")),
    ]

    mapped = map_document(mapping, as_parsed(*records), SHANGHAI)

    assert [(r.index, r.field, r.code) for r in mapped.rejected] == [
        (2, "value", "out_of_range"), (4, "attributes.stage", "out_of_range"),
        (6, "occurred_at", "bad_time"),
    ]  # fmt: skip
    items = dict(zip(mapped.origins, mapped.items, strict=True))
    assert items[0]["external_id"] == "crm-1" + "0" * 30
    assert items[1]["value"] == "1" + "0" * 30
    assert items[3]["employee"] == "1" + "0" * 40
    assert items[5]["attributes"] == {"customer": 12, "stage": str(2**53)}
    json.dumps(mapped.items)  # every item can be sent on


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(12500050, "125000.5"), (huge("1e30"), "1" + "0" * 28), (huge("1e5000"), None),
     (huge("1e-5000"), None),
     (huge("123456789012345678901234567890.12"), "1234567890123456789012345678.9012")],
)  # fmt: skip
def test_a_multiplied_value_is_exact_or_rejects_the_record(amount, expected):
    mapped = map_document(CRM, as_parsed(deal(1, amount_fen=amount)), SHANGHAI)

    if expected is None:
        assert [(r.field, r.code) for r in mapped.rejected] == [("value", "out_of_range")]
    else:
        assert mapped.items[0]["value"] == expected


def test_a_time_outside_the_calendar_rejects_the_record():
    mapping = copy.deepcopy(CRM)
    mapping["fields"]["external_id"] = {"template": "crm-{won_at|date:iso}"}
    mapping["fields"]["occurred_at"] = {"path": "won_at", "format": "iso"}

    mapped = map_document(mapping, document(deal(won_at="0001-01-01T00:00:00+08:00")), SHANGHAI)

    assert [(r.field, r.code) for r in mapped.rejected] == [("external_id", "bad_time")]


def test_a_next_cursor_that_is_not_a_single_value_refuses_the_document():
    mapping = {**CRM, "next_cursor": "data.next"}

    with pytest.raises(DocumentFault, match=r"data\.next"):
        map_document(mapping, {"data": {"deals": [deal()], "next": {"page": 2}}}, SHANGHAI)


def test_a_path_part_that_is_a_digit_but_not_decimal_finds_nothing():
    mapping = {**CRM, "items": "data.deals.²"}

    with pytest.raises(DocumentFault):
        map_document(mapping, document(deal()), SHANGHAI)


def test_the_senders_error_message_is_one_short_value_never_the_body():
    body = {"errcode": 7, "errmsg": "x" * 900, "data": {"token": "s3cret"}}
    for path, said in [("errmsg", "x" * 500), ("data", ""), ("$", ""), ("errcode", "7")]:
        mapping = {**CRM, "ok_when": [{"path": "errcode", "equals": 0}], "error_message": path}
        with pytest.raises(DocumentFault) as raised:
            map_document(mapping, body, SHANGHAI)
        reason = str(raised.value)
        assert reason.endswith(said) and "s3cret" not in reason and "x" * 501 not in reason
        assert ("7" in reason) == (path == "errcode")


def test_the_check_refuses_the_whole_body_as_the_error_message():
    assert "errmsg" in errors_of({**CRM, "error_message": "$"})["error_message"]


# --- checking ---------------------------------------------------------------------------


def test_a_good_mapping_passes_the_check():
    assert check_mapping(CRM) is CRM


def test_the_check_names_every_faulty_key():
    mapping = copy.deepcopy(CRM)
    mapping["itemz"] = "x"
    mapping["items"] = "data..deals"
    mapping["when"] = [{"path": "stage", "equals": "won", "in": ["won"]}]
    fields = mapping["fields"]
    del fields["metric"]
    fields["external_id"] = {"path": "id", "const": "x"}
    fields["occurred_at"]["format"] = "epoch_us"
    fields["value"]["multiply"] = "a hundredth"
    fields["employee"] = {"path": "owner.no", "lookup": "staff"}
    fields["attributes"]["note"] = {"template": "{note|upper}"}
    fields["bonus"] = "x"

    errors = errors_of(mapping)

    assert set(errors) == {
        "itemz", "items", "when.0", "fields.metric", "fields.external_id",
        "fields.occurred_at.format", "fields.value.multiply", "fields.employee.lookup",
        "fields.attributes.note.template", "fields.bonus",
    }  # fmt: skip
    assert "epoch_ms" in errors["fields.occurred_at.format"]
    assert "staff" in errors["fields.employee.lookup"]


def test_the_check_refuses_what_is_not_a_mapping_at_all():
    assert list(errors_of([1, 2])) == [""]
    assert set(errors_of({})) >= {"items", "fields"}


# --- the shipped presets ------------------------------------------------------------------


@pytest.mark.parametrize("preset", presets.all_presets(), ids=lambda p: p.code)
def test_every_preset_passes_the_check_and_names_its_documents(preset):
    check_mapping(preset.mapping)
    assert preset.documents and all(d["url"].startswith("https://") for d in preset.documents)


def test_the_dingtalk_preset_reads_punch_results_from_the_attendance_list_response():
    """钉钉开发文档《获取打卡结果》https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm"""
    mapping = presets.get("dingtalk_attendance").mapping
    mapping["tables"]["employees"] = {"manager3451": "E0003"}
    body = json.loads(json.dumps(DINGTALK_LIST))

    mapped = map_document(mapping, body, SHANGHAI)

    assert mapped.items == [
        {"external_id": "dingtalk-present-manager3451-2026-03-02", "employee": "E0003",
         "metric": "days_present", "value": "1", "occurred_at": "2026-03-02T08:58:00+08:00",
         "attributes": {"record_id": 260694657296, "time_result": "Normal",
                        "location_result": "Normal", "source_type": "USER"}},
        {"external_id": "dingtalk-present-manager3451-2026-03-03", "employee": "E0003",
         "metric": "days_present", "value": "1", "occurred_at": "2026-03-03T09:15:00+08:00",
         "attributes": {"record_id": 260694657297, "time_result": "Late",
                        "location_result": "Normal", "source_type": "USER"}},
        {"external_id": "dingtalk-present-E0004-2026-03-02", "void": True},
    ]  # fmt: skip
    assert mapped.origins == [0, 2, 4]
    assert mapped.skipped == 2  # the off-duty punches
    assert mapped.has_more is False


def test_the_dingtalk_late_preset_counts_late_days_and_voids_the_others():
    """钉钉开发文档《获取打卡结果》https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm"""
    mapping = presets.get("dingtalk_late").mapping

    mapped = map_document(mapping, json.loads(json.dumps(DINGTALK_LIST)), SHANGHAI)

    late = [item for item in mapped.items if not item.get("void")]
    assert [(i["external_id"], i["metric"]) for i in late] == [
        ("dingtalk-late-manager3451-2026-03-03", "late_arrivals")
    ]
    assert sum(1 for item in mapped.items if item.get("void")) == 2


def test_the_dingtalk_preset_refuses_a_body_reporting_an_error():
    mapping = presets.get("dingtalk_attendance").mapping
    body = {"errcode": 88, "errmsg": "access_token is blank", "recordresult": []}

    with pytest.raises(DocumentFault, match="access_token is blank"):
        map_document(mapping, body, SHANGHAI)


def test_the_wecom_preset_reads_getcheckindata_records():
    """企业微信《获取打卡记录数据》https://developer.work.weixin.qq.com/document/path/90262"""
    mapping = presets.get("wecom_checkin").mapping
    mapping["tables"]["employees"] = {"amy.wang": "E0003", "james": "E0002"}
    body = json.loads(json.dumps(WECOM_CHECKINDATA), parse_float=Decimal)

    mapped = map_document(mapping, body, SHANGHAI)

    assert [(i["external_id"], i.get("employee"), i.get("void", False)) for i in mapped.items] == [
        ("wecom-present-james-2017-04-20", "E0002", False),  # the document's own record
        ("wecom-present-amy.wang-2026-03-02", "E0003", False),  # her second punch stands
        ("wecom-present-E0004-2026-03-02", None, True),
    ]  # fmt: skip
    assert mapped.origins == [0, 3, 5]
    assert mapped.items[1]["occurred_at"] == "2026-03-02T08:59:00+08:00"
    james = mapped.items[0]
    assert james["occurred_at"] == "2017-04-20T00:00:10+08:00"
    assert james["attributes"] == {"exception_type": "地点异常", "group": "打卡一组",
                                   "location": "依澜府"}  # fmt: skip
    assert mapped.skipped == 3  # paul's 外出打卡, amy's first punch and her 下班打卡
