"""企业微信 WeCom 获取打卡记录数据 (check-in records) -> days_present.

Follows the vendor's public documents:
- 企业微信开发者中心《获取打卡记录数据》(POST https://qyapi.weixin.qq.com/cgi-bin/checkin/getcheckindata),
  https://developer.work.weixin.qq.com/document/path/90262
- the same for 服务商代开发 (apps built on a customer's behalf),
  https://developer.work.weixin.qq.com/document/path/96497
"""

PRESET = {
    "code": "wecom_checkin",
    "vendor": "企业微信 WeCom",
    "title": "获取打卡记录数据 (check-in records)",
    "documents": [
        {
            "title": "企业微信开发者中心：获取打卡记录数据 (POST "
            "https://qyapi.weixin.qq.com/cgi-bin/checkin/getcheckindata)",
            "url": "https://developer.work.weixin.qq.com/document/path/90262",
        },
        {
            "title": "企业微信开发者中心（服务商代开发）：获取打卡记录数据",
            "url": "https://developer.work.weixin.qq.com/document/path/96497",
        },
    ],
    "notes": [
        "The body is the getcheckindata response: errcode, errmsg and checkindata, one "
        "record per check-in with userid, checkin_type (上班打卡, 下班打卡, "
        "外出打卡), exception_type (empty, or 时间异常, 地点异常, 未打卡, "
        "wifi异常, 非常用设备) and checkin_time in seconds since 1970.",
        "Each day with an on-duty check-in (上班打卡) counts once as days_present for that "
        "userid: the external id is the user and the day in the company's timezone, so a "
        "check-in sent again changes nothing.",
        "An on-duty record whose exception_type is 未打卡 (no check-in) voids that day.",
        "userid is the WeCom user id. It is taken as the employee number unless "
        'tables.employees lists it: {"james": "E0003"}.',
    ],
    "mapping": {
        "ok_when": [{"path": "errcode", "equals": 0}],
        "error_message": "errmsg",
        "items": "checkindata",
        "when": [{"path": "checkin_type", "equals": "上班打卡"}],
        "fields": {
            "external_id": {"template": "wecom-present-{userid}-{checkin_time|date:epoch_s}"},
            "employee": {"path": "userid", "lookup": "employees", "unmatched": "keep"},
            "metric": {"const": "days_present"},
            "value": {"const": "1"},
            "occurred_at": {"path": "checkin_time", "format": "epoch_s"},
            "void": {"path": "exception_type", "lookup": {"未打卡": True}, "default": False},
            "attributes": {
                "exception_type": "exception_type",
                "group": "groupname",
                "location": "location_title",
            },
        },
        "tables": {"employees": {}},
    },
}
