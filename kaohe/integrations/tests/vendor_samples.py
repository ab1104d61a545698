"""Bodies as the vendors document them, for the preset tests.

DINGTALK_LIST follows the response example and field table of
  钉钉开发文档《获取打卡结果》, POST https://oapi.dingtalk.com/attendance/list
  https://open-doc.dingtalk.com/microapp/serverapi2/ul33mm
  (fields also in "dingtalk.oapi.attendance.list（考勤打卡数据开放）",
  https://open.alitrip.com/docs/api.htm?apiId=37092)
with the documented fields (checkType OnDuty/OffDuty, timeResult, userCheckTime and workDate
in milliseconds, hasMore); ids, users and times are ours.

WECOM_CHECKINDATA follows the response example of
  企业微信开发者中心《获取打卡记录数据》, POST https://qyapi.weixin.qq.com/cgi-bin/checkin/getcheckindata
  https://developer.work.weixin.qq.com/document/path/90262
(userid, groupname, checkin_type, exception_type, checkin_time in seconds, location_title,
location_detail, wifiname, notes, wifimac, mediaids, sch_checkin_time, groupid,
schedule_id, timeline_id); the first two records are the document's own (james, paul).
"""

import copy

# 2026-03-02 is a Monday; 00:00 in Shanghai is 2026-03-01T16:00Z = 1772380800 s.
MONDAY_MS = 1772380800000
HOUR_MS = 3600 * 1000


def _dingtalk(record_id, user, check_type, result, work_date_ms, check_ms, **extra):
    return {
        "id": record_id,
        "groupId": 1010275569,
        "planId": 437360727696 + record_id % 1000,
        "recordId": record_id + 1,
        "workDate": work_date_ms,
        "userId": user,
        "checkType": check_type,
        "timeResult": result,
        "locationResult": "Normal",
        "baseCheckTime": work_date_ms + (9 if check_type == "OnDuty" else 18) * HOUR_MS,
        "userCheckTime": check_ms,
        "sourceType": "USER",
        "corpId": "dingc5f4301f00bdafc3acaaa37764f94726",
        **extra,
    }


TUESDAY_MS = MONDAY_MS + 24 * HOUR_MS
DINGTALK_LIST = {
    "errcode": 0,
    "errmsg": "ok",
    "hasMore": False,
    "recordresult": [
        # Monday: on time, then left on time: counts one day present.
        _dingtalk(260694657296, "manager3451", "OnDuty", "Normal", MONDAY_MS,
                  MONDAY_MS + 9 * HOUR_MS - 120_000),
        _dingtalk(260815376208, "manager3451", "OffDuty", "Normal", MONDAY_MS,
                  MONDAY_MS + 18 * HOUR_MS + 60_000),
        # Tuesday: late, but present.
        _dingtalk(260694657297, "manager3451", "OnDuty", "Late", TUESDAY_MS,
                  TUESDAY_MS + 9 * HOUR_MS + 900_000),
        _dingtalk(260815376209, "manager3451", "OffDuty", "Early", TUESDAY_MS,
                  TUESDAY_MS + 17 * HOUR_MS),
        # olga's Monday: she never punched in (the system records NotSigned).
        _dingtalk(260694657298, "E0004", "OnDuty", "NotSigned", MONDAY_MS,
                  MONDAY_MS + 9 * HOUR_MS, sourceType="SYSTEM"),
    ],
}  # fmt: skip

MEDIA_ID = (
    "WWCISP_G8PYgRaOVHjXWUWFqchpBqqqUpGj0OyR9z6WTwhnMZGCPHxyviVstiv_2fTG8YOJq8L8zJT2T2OvTebANV-2MQ"
)
WECOM_DOC_RECORDS = [
    {
        "userid": "james",
        "groupname": "打卡一组",
        "checkin_type": "上班打卡",
        "exception_type": "地点异常",
        "checkin_time": 1492617610,
        "location_title": "依澜府",
        "location_detail": "四川省成都市武侯区益州大道中段784号附近",
        "wifiname": "办公一区",
        "notes": "路上堵车，迟到了5分钟",
        "wifimac": "3c:46:d8:0c:7a:70",
        "mediaids": [MEDIA_ID],
        "sch_checkin_time": 1492617000,
        "groupid": 1,
        "schedule_id": 0,
        "timeline_id": 2,
    },
    {
        "userid": "paul",
        "groupname": "打卡二组",
        "checkin_type": "外出打卡",
        "exception_type": "时间异常",
        "checkin_time": 1492617620,
        "location_title": "重庆出口加工区",
        "location_detail": "重庆市渝北区金渝大道101号金渝大道",
        "wifiname": "办公室二区",
        "notes": "",
        "wifimac": "3c:46:d8:0c:7a:71",
        "mediaids": [MEDIA_ID],
        "lat": 30547645,
        "lng": 104063236,
        "deviceid": "E5FA89F6-3926-4972-BE4F-4A7ACF4701E2",
        "sch_checkin_time": 1492617610,
        "groupid": 2,
        "schedule_id": 3,
        "timeline_id": 1,
    },
]  # fmt: skip

MONDAY_S = MONDAY_MS // 1000


def _wecom(user, checkin_type, exception_type, at_s):
    record = copy.deepcopy(WECOM_DOC_RECORDS[0])
    record.update(userid=user, checkin_type=checkin_type, exception_type=exception_type,
                  checkin_time=at_s, sch_checkin_time=at_s - at_s % 3600, notes="")  # fmt: skip
    return record


WECOM_CHECKINDATA = {
    "errcode": 0,
    "errmsg": "ok",
    "checkindata": [
        *WECOM_DOC_RECORDS,
        # amy (WeCom id "amy.wang") checks in on Monday on time, and again (a second punch).
        _wecom("amy.wang", "上班打卡", "", MONDAY_S + 9 * 3600 - 300),
        _wecom("amy.wang", "上班打卡", "", MONDAY_S + 9 * 3600 - 60),
        _wecom("amy.wang", "下班打卡", "", MONDAY_S + 18 * 3600 + 60),
        # olga did not check in on Monday.
        _wecom("E0004", "上班打卡", "未打卡", MONDAY_S + 9 * 3600),
    ],
}
