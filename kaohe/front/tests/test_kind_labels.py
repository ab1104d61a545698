"""Every kind of ledger entry the code records has a name readers understand."""

import re
from pathlib import Path

from kaohe.front.templatetags.evidence import KIND_LABELS

ROOT = Path(__file__).resolve().parents[2]
# record(...) and the apps' own wrappers around it (_record, append).
RECORDED = re.compile(r"""\b(?:_?record|append)\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']""")


def recorded_kinds() -> set[str]:
    kinds = set()
    for path in ROOT.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        kinds |= set(RECORDED.findall(path.read_text(encoding="utf-8")))
    return kinds


def test_every_recorded_kind_has_a_label():
    kinds = recorded_kinds()

    assert "metrics.facts.ingested" in kinds  # the scan finds multi-line calls
    assert sorted(kinds - set(KIND_LABELS)) == []
