"""钉钉 DingTalk 考勤打卡结果 (attendance punch results) -> late_arrivals.

Follows the vendor's public document:
- 钉钉开发文档《获取打卡结果》(POST https://oapi.dingtalk.com/attendance/list),
  https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm
"""

from kaohe.integrations.presets.dingtalk_attendance import LIST_ENVELOPE

PRESET = {
    "code": "dingtalk_late",
    "vendor": "钉钉 DingTalk",
    "title": "考勤打卡结果：迟到 (late arrivals from punch results)",
    "documents": [
        {
            "title": "钉钉开发文档：获取打卡结果 (POST https://oapi.dingtalk.com/attendance/list)",
            "url": "https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm",
        }
    ],
    "notes": [
        "The same /attendance/list body as dingtalk_attendance. Each working day whose "
        "on-duty result is Late or SeriousLate counts once as late_arrivals; any other "
        "on-duty result for that day voids it, so a late punch later excused (an approval "
        "turning it Normal) is taken back.",
        "userId is taken as the employee number unless tables.employees lists it.",
    ],
    "mapping": {
        **LIST_ENVELOPE,
        "fields": {
            "external_id": {"template": "dingtalk-late-{userId}-{workDate|date:epoch_ms}"},
            "employee": {"path": "userId", "lookup": "employees", "unmatched": "keep"},
            "metric": {"const": "late_arrivals"},
            "value": {"const": "1"},
            "occurred_at": {"path": "userCheckTime", "format": "epoch_ms"},
            "void": {
                "path": "timeResult",
                "lookup": {"Late": False, "SeriousLate": False},
                "default": True,
            },
            "attributes": {"record_id": "id", "time_result": "timeResult"},
        },
    },
}
