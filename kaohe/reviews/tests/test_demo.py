"""The demo's assessments: the reference story in May 2026 (Q1 assessed and the director's
result signed, Q2 open for scoring), loaded once however often the demo runs."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from kaohe.ledger.models import Entry
from kaohe.reviews.models import Cycle, CycleState, Result
from kaohe.signing.models import DocumentKind, DocumentState, Letter

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC)


def load() -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_demo_assesses_q1_and_the_director_signs_his_result():
    assert "Assessments: 2 cycles created" in load()
    q1 = Cycle.objects.get(period_start=dt.date(2026, 1, 1))
    q2 = Cycle.objects.get(period_start=dt.date(2026, 4, 1))
    assert q1.state == CycleState.RESULTS_PUBLISHED and q1.standard_late
    assert q2.state == CycleState.SCORING
    assert q2.results.filter(standard_document__kind=DocumentKind.STANDARD).count() > 40
    result = Result.objects.get(cycle=q1, employee__user__username="director")
    assert result.grade == "D" and result.document.state == DocumentState.SIGNED
    assert result.document.data["title"] == "2026年第一季度绩效考核结果"
    assert result.document.signature.method == "passkey" and result.document.signature.receipt
    assert Letter.objects.filter(document=result.document).exists()
    assert Entry.objects.filter(kind="letter.sealed", employee_no=result.employee.employee_no)
    before = _assessment_entries()
    assert "Assessments: 0 cycles created, 0 results published" in load()
    assert Cycle.objects.count() == 2 and _assessment_entries() == before


def _assessment_entries() -> int:
    kinds = ("template.", "cycle.", "result.", "document.", "passkey.", "letter.")
    return sum(Entry.objects.filter(kind__startswith=kind).count() for kind in kinds)
