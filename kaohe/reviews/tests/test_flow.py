"""The whole flow: template -> cycle -> standard -> scoring -> manager's score -> publish."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from kaohe.ledger.models import Entry
from kaohe.reviews.actions import (
    ActionError,
    do_adjust_item,
    do_close_cycle,
    do_publish_results,
    do_publish_standard,
    do_score_item,
    do_start_scoring,
)
from kaohe.reviews.models import CycleState, ItemKind, Result, ResultState
from kaohe.reviews.testing import give_sales, make_cycle
from kaohe.signing.models import Document, DocumentKind, DocumentState
from kaohe.signing.testing import use_fake_renderer
from kaohe.signing.visibility import documents_visible_to

pytestmark = pytest.mark.django_db
BEFORE_Q1 = dt.datetime(2025, 12, 20, 2, tzinfo=dt.UTC)
AFTER_Q1 = dt.datetime(2026, 4, 2, 2, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fast_pdf(monkeypatch):
    use_fake_renderer(monkeypatch)


def _qualitative(result: Result):
    return result.items.get(item__kind=ItemKind.QUALITATIVE).item_id


def _scored_cycle(cast):
    with time_machine.travel(BEFORE_Q1, tick=False):
        cycle = make_cycle(cast)
        do_publish_standard(cast.ada, cycle)
    with time_machine.travel(AFTER_Q1, tick=False):
        give_sales(cast, [cast.amy, cast.mike, cast.dora], sold={"E0003": 90_000})
        do_start_scoring(cast.hazel, cycle)
    return cycle


def test_publishing_the_standard_takes_the_population_and_discloses_it(cast):
    with time_machine.travel(BEFORE_Q1, tick=False):
        cycle = make_cycle(cast)
        do_publish_standard(cast.hazel, cycle)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.STANDARD_PUBLISHED and not cycle.standard_late
    numbers = set(cycle.results.values_list("employee__employee_no", flat=True))
    assert numbers == {"E0001", "E0002", "E0003"}  # East and below; not olga (South)
    standard = Document.objects.get(employee=cast.amy, kind=DocumentKind.STANDARD)
    assert standard.data["sections"][1]["table"]["rows"][0][3] == "60.00"
    assert cycle.template.is_frozen
    assert Entry.objects.filter(kind="cycle.standard_published").count() == 1


def test_a_standard_published_after_the_period_began_is_recorded_as_late(cast):
    with time_machine.travel(AFTER_Q1, tick=False):
        cycle = make_cycle(cast)
        do_publish_standard(cast.ada, cycle)
    cycle.refresh_from_db()
    assert cycle.standard_late
    entry = Entry.objects.get(kind="cycle.standard_published")
    assert '"late":true' in entry.body


def test_scoring_fills_quantitative_items_from_attainment_with_sources(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    row = amy.items.get(item__kind=ItemKind.QUANTITATIVE)
    assert row.attainment == Decimal("90.00") and row.score == Decimal("90.00")
    assert row.target == Decimal(100_000) and row.actual == Decimal(90_000)
    assert row.sources == {"crm": 1}
    assert amy.total is None  # the qualitative item is still open
    assert amy.versions.get().diff  # version 1: filled


def test_the_manager_scores_and_hr_publishes_and_only_then_amy_sees_it(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        do_score_item(cast.mike.user, amy, _qualitative(amy), "80", "积极配合团队")
        amy.refresh_from_db()
        assert amy.total == Decimal("86.00") and amy.grade == "A"  # 0.6*90 + 0.4*80
        assert not documents_visible_to(cast.amy.user).filter(kind=DocumentKind.RESULT).exists()
        assert do_publish_results(cast.hazel, cycle, [amy]) == 1
    amy.refresh_from_db()
    assert amy.state == ResultState.PUBLISHED and amy.document.kind == DocumentKind.RESULT
    assert documents_visible_to(cast.amy.user).filter(pk=amy.document.pk).exists()
    fields = amy.document.data["sections"][0]["fields"]
    assert fields == [["总分", "86.00"], ["等级", "A"]]
    assert amy.document.due_at > AFTER_Q1
    assert Entry.objects.filter(kind="result.published").count() == 1
    cycle.refresh_from_db()
    assert cycle.state == CycleState.SCORING  # the others are not published yet


def test_publishing_the_whole_cycle_refuses_incomplete_results(cast):
    cycle = _scored_cycle(cast)
    with pytest.raises(ActionError):
        do_publish_results(cast.ada, cycle)
    assert not Document.objects.filter(kind=DocumentKind.RESULT).exists()


def test_publishing_all_moves_the_cycle_on_and_closing_ends_it(cast):
    cycle = _scored_cycle(cast)
    with time_machine.travel(AFTER_Q1, tick=False):
        for result in cycle.results.all():
            do_adjust_item(cast.ada, result, _qualitative(result), "70", "按主管意见")
        assert do_publish_results(cast.ada, cycle) == 3
        cycle.refresh_from_db()
        assert cycle.state == CycleState.RESULTS_PUBLISHED
        do_close_cycle(cast.ada, cycle)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.CLOSED


def test_a_corrected_result_supersedes_its_document(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    item = _qualitative(amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        do_score_item(cast.mike.user, amy, item, "80", "积极配合")
        do_publish_results(cast.hazel, cycle, [amy])
        amy.refresh_from_db()
        first = amy.document
        do_adjust_item(cast.hazel, amy, item, "60", "复核后调整")
        amy.refresh_from_db()
        assert amy.state == ResultState.CHANGED
        do_publish_results(cast.hazel, cycle, [amy])
    amy.refresh_from_db()
    first.refresh_from_db()
    assert first.state == DocumentState.SUPERSEDED
    assert amy.document.supersedes_id == first.pk and amy.document.state == DocumentState.PENDING
    assert "复核后调整" in str(amy.document.data)


def test_a_result_whose_document_hr_withdrew_is_corrected_and_published_again(cast):
    from kaohe.signing.actions import do_withdraw

    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    item = _qualitative(amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        do_score_item(cast.mike.user, amy, item, "80", "积极配合")
        do_publish_results(cast.hazel, cycle, [amy])
        amy.refresh_from_db()
        withdrawn = do_withdraw(cast.hazel, amy.document, "评分有误，撤回重评")
        do_adjust_item(cast.hazel, amy, item, "60", "复核后调整")
        assert do_publish_results(cast.hazel, cycle, [amy]) == 1
    amy.refresh_from_db()
    withdrawn.refresh_from_db()
    assert withdrawn.state == DocumentState.WITHDRAWN
    assert amy.document != withdrawn and amy.document.supersedes is None
    assert amy.document.state == DocumentState.PENDING


def test_versions_record_who_changed_what(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        do_score_item(cast.mike.user, amy, _qualitative(amy), "80", "好")
        do_adjust_item(cast.hazel, amy, _qualitative(amy), "75", "校准")
    versions = list(amy.versions.order_by("number"))
    assert [v.change for v in versions] == ["filled", "scored", "adjusted"]
    last = versions[-1]
    assert last.changed_by == cast.hazel and last.reason == "校准"
    fields = {(c["field"], c["before"], c["after"]) for c in last.diff}
    assert ("score", "80.00", "75.00") in fields and ("total", "86.00", "84.00") in fields
    assert Entry.objects.filter(kind="result.edited").count() == 3 * 1 + 2  # 3 filled + 2


def test_illegal_transitions_are_refused(cast):
    with time_machine.travel(BEFORE_Q1, tick=False):
        cycle = make_cycle(cast)
        with pytest.raises(ActionError):
            do_start_scoring(cast.ada, cycle)
        with pytest.raises(ActionError):
            do_publish_results(cast.ada, cycle)
        do_publish_standard(cast.ada, cycle)
        with pytest.raises(ActionError):
            do_publish_standard(cast.ada, cycle)
        with pytest.raises(ActionError):
            do_close_cycle(cast.ada, cycle)


def test_managers_publish_only_when_the_cycle_allows_and_only_their_subtree(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    dora = cycle.results.get(employee=cast.dora)
    with time_machine.travel(AFTER_Q1, tick=False):
        do_score_item(cast.mike.user, amy, _qualitative(amy), "80", "好")
        do_adjust_item(cast.ada, dora, _qualitative(dora), "80", "校准")
        with pytest.raises(PermissionDenied):
            do_publish_results(cast.mike.user, cycle, [amy])
        cycle.managers_may_publish = True
        cycle.save(update_fields=["managers_may_publish"])
        with pytest.raises(PermissionDenied):
            do_publish_results(cast.mike.user, cycle, [dora])  # his own boss
        assert do_publish_results(cast.mike.user, cycle, [amy]) == 1


def test_outsiders_and_the_employee_herself_cannot_edit(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    item = _qualitative(amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        for user in (cast.olga.user, cast.harry, cast.amy.user):
            with pytest.raises(PermissionDenied):
                do_score_item(user, amy, item, "100", "满分")
            with pytest.raises(PermissionDenied):
                do_adjust_item(user, amy, item, "100", "满分")
            with pytest.raises(PermissionDenied):
                do_publish_results(user, cycle, [amy])
        with pytest.raises(PermissionDenied):
            do_start_scoring(cast.harry, cycle)
    assert not amy.versions.filter(change="scored").exists()


def test_bad_scores_are_refused_without_a_change(cast):
    cycle = _scored_cycle(cast)
    amy = cycle.results.get(employee=cast.amy)
    item = _qualitative(amy)
    with time_machine.travel(AFTER_Q1, tick=False):
        for score, comment in (("abc", "x"), ("101", "x"), ("-1", "x"), ("NaN", "x"), ("80", "")):
            with pytest.raises(ActionError):
                do_score_item(cast.mike.user, amy, item, score, comment)
    assert amy.versions.count() == 1


def test_an_hr_partner_edits_a_copy_of_another_partners_template(cast):
    from kaohe.reviews.actions import ItemInput, do_save_template
    from kaohe.reviews.testing import make_template

    template = make_template(cast.hazel)  # East's partner made it; nothing uses it yet
    items = [ItemInput("态度", ItemKind.QUALITATIVE, "100")]
    scale = [("合格", "60"), ("不合格", "")]
    copy = do_save_template(cast.harry, name="华南版", scale=scale, items=items, template=template)
    template.refresh_from_db()
    assert copy != template and copy.based_on == template and copy.created_by == cast.harry
    assert template.name != "华南版"
    same = do_save_template(cast.hazel, name="华东版", scale=scale, items=items, template=template)
    assert same == template  # its author changes it in place
    assert (
        do_save_template(cast.ada, name="公司版", scale=scale, items=items, template=template)
        == template
    )
