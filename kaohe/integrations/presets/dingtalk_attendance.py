"""钉钉 DingTalk 考勤打卡结果 (attendance punch results) -> days_present.

Follows the vendor's public documents:
- 钉钉开发文档《获取打卡结果》(POST https://oapi.dingtalk.com/attendance/list),
  https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm
- dingtalk.oapi.attendance.list（考勤打卡数据开放）,
  https://open.alitrip.com/docs/api.htm?apiId=37092
"""

# How an /attendance/list body is read: success code, error text, the records (their
# on-duty punches only), paging. Every DingTalk punch preset reads it the same way.
LIST_ENVELOPE = {
    "ok_when": [{"path": "errcode", "equals": 0}],
    "error_message": "errmsg",
    "items": "recordresult",
    "when": [{"path": "checkType", "equals": "OnDuty"}],
    "tables": {"employees": {}},
    "has_more": "hasMore",
}

PRESET = {
    "code": "dingtalk_attendance",
    "vendor": "钉钉 DingTalk",
    "title": "考勤打卡结果 (attendance punch results)",
    "documents": [
        {
            "title": "钉钉开发文档：获取打卡结果 (POST https://oapi.dingtalk.com/attendance/list)",
            "url": "https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm",
        },
        {
            "title": "dingtalk.oapi.attendance.list（考勤打卡数据开放）",
            "url": "https://open.alitrip.com/docs/api.htm?apiId=37092",
        },
    ],
    "notes": [
        "The body is the /attendance/list response: errcode, errmsg, hasMore and "
        "recordresult, one record per scheduled punch (checkType OnDuty or OffDuty) with "
        "userId, timeResult (Normal, Early, Late, SeriousLate, Absenteeism, NotSigned), "
        "workDate and userCheckTime in milliseconds since 1970.",
        "Each working day with an on-duty punch counts once as days_present for that "
        "userId: the external id is the user and the working day, so a punch sent again, "
        "or a second shift's punch the same day, changes nothing.",
        "An on-duty result of Absenteeism or NotSigned voids that day (a day counted "
        "earlier and later corrected is taken back).",
        "userId is the DingTalk user id. It is taken as the employee number unless "
        'tables.employees lists it: {"manager3451": "E0003"}.',
    ],
    "mapping": {
        **LIST_ENVELOPE,
        "fields": {
            "external_id": {"template": "dingtalk-present-{userId}-{workDate|date:epoch_ms}"},
            "employee": {"path": "userId", "lookup": "employees", "unmatched": "keep"},
            "metric": {"const": "days_present"},
            "value": {"const": "1"},
            "occurred_at": {"path": "userCheckTime", "format": "epoch_ms"},
            "void": {
                "path": "timeResult",
                "lookup": {"Absenteeism": True, "NotSigned": True},
                "default": False,
            },
            "attributes": {
                "record_id": "id",
                "time_result": "timeResult",
                "location_result": "locationResult",
                "source_type": "sourceType",
            },
        },
    },
}
