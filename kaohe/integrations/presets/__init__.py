"""Mappings shipped for payloads that Chinese SaaS vendors document publicly.

Each preset is a module here holding PRESET: the vendor's documents it follows (title and
URL), notes on what it counts, and the mapping itself (see kaohe/integrations/mapping.py). A source
created from a preset gets a copy of the mapping, so that HR can fill in its employee
table or change it, and a later change of the preset never alters a running source.
"""

import copy
import json
from dataclasses import dataclass
from functools import cache

from django.utils.translation import gettext_lazy as _

from kaohe.integrations.presets import dingtalk_attendance, dingtalk_late, wecom_checkin

LABELS = {
    "dingtalk_attendance": _("DingTalk: attendance punch results → days present"),
    "dingtalk_late": _("DingTalk: attendance punch results → late arrivals"),
    "wecom_checkin": _("WeCom: check-in records → days present"),
}


@dataclass(frozen=True)
class Preset:
    code: str
    label: str
    vendor: str
    title: str
    documents: tuple[dict, ...]
    notes: tuple[str, ...]
    raw_mapping: str

    @property
    def mapping(self) -> dict:
        """A fresh copy, safe to change."""
        return copy.deepcopy(json.loads(self.raw_mapping))


@cache
def _load() -> dict[str, Preset]:
    presets = {}
    for module in (dingtalk_attendance, dingtalk_late, wecom_checkin):
        data = module.PRESET
        presets[data["code"]] = Preset(
            code=data["code"],
            label=LABELS.get(data["code"], data["code"]),
            vendor=data["vendor"],
            title=data["title"],
            documents=tuple(data["documents"]),
            notes=tuple(data["notes"]),
            raw_mapping=json.dumps(data["mapping"], ensure_ascii=False),
        )
    return presets


def all_presets() -> list[Preset]:
    return list(_load().values())


def get(code: str) -> Preset | None:
    return _load().get(code)
