"""Target agreements as documents: a published metrics.AgreementVersion put before the
employee to sign (业绩目标责任书), superseding the document of the version before it; once
signed, the version counts as acknowledged."""

import logging

from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from kaohe.metrics.checks import agreement_content, period_of
from kaohe.metrics.models import Acknowledgement, AgreementState, AgreementVersion
from kaohe.org.models import Company
from kaohe.signing.content import SigningError, document_head, issue
from kaohe.signing.models import AGREEMENT_SOURCE, VOID_STATES, Document, DocumentKind

SOURCE_TYPE = AGREEMENT_SOURCE
logger = logging.getLogger(__name__)
STATEMENT = (
    "本人已阅读并理解上述业绩目标、权重及考核口径，确认其为本人在该考核期间的工作目标。"
    "签署仅表示已知悉本责任书内容。"
)


def issue_agreement(actor, version: AgreementVersion) -> Document:
    """Issues the published `version` as a document of kind "agreement" (in the caller's
    transaction); the document of the agreement's earlier version, if still in force, is
    superseded. Issuing the same version twice returns the document issued first."""
    if version.state != AgreementState.PUBLISHED:
        raise SigningError(_("Only a published target agreement can be put before the employee."))
    agreement = version.agreement
    earlier = _current_document(version)
    if earlier is not None and earlier.source_id == str(version.pk):
        return earlier
    data = agreement_data(version)
    return issue(
        actor, kind=DocumentKind.AGREEMENT, employee=agreement.employee, title=data["title"],
        data=data, source_type=SOURCE_TYPE, source_id=str(version.pk), supersedes=earlier,
    )  # fmt: skip


def _current_document(version: AgreementVersion) -> Document | None:
    ids = [str(pk) for pk in version.agreement.versions.values_list("pk", flat=True)]
    return (
        Document.objects.filter(source_type=SOURCE_TYPE, source_id__in=ids)
        .exclude(state__in=VOID_STATES)
        .order_by("-issued_at", "-pk")
        .first()
    )


def agreement_data(version: AgreementVersion) -> dict:
    """The "kaohe-document/v1" content of a target agreement version."""
    agreement = version.agreement
    employee = agreement.employee
    period = period_of(agreement)
    label = period.chinese_label
    content = agreement_content(version)
    rows = [[item["name_zh"], item["target"], item["unit"], item["weight"]]
            for item in content["items"]]  # fmt: skip
    sections = [
        {"heading": "责任书信息", "fields": [
            ["考核期间", label], ["版本", str(version.number)],
            ["生效时间", _local(version.published_at)],
        ]},
        {"heading": "业绩目标", "table": {"columns": ["指标", "目标值", "单位", "权重(%)"],
                                          "rows": rows}},
    ]  # fmt: skip
    if version.note:
        sections.append({"heading": "变更说明", "paragraphs": [version.note]})
    head = document_head(DocumentKind.AGREEMENT, f"{label}业绩目标责任书", employee, period,
                         company=Company.get().name or "")  # fmt: skip
    return head | {
        "sections": sections,
        "statement": STATEMENT,
        "source": {"type": SOURCE_TYPE, "id": str(version.pk), "version": str(version.number),
                   "content_sha256": version.content_sha256},
    }  # fmt: skip


def _local(at) -> str:
    if at is None:
        return ""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(Company.get().timezone or "Asia/Shanghai")
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def on_signed(document: Document) -> None:
    """Called in the signing transaction: a signed agreement document acknowledges its
    AgreementVersion."""
    if document.kind != DocumentKind.AGREEMENT or document.source_type != SOURCE_TYPE:
        return
    version = AgreementVersion.objects.filter(pk=int(document.source_id)).first()
    if version is None or version.acknowledgement == Acknowledgement.ACKNOWLEDGED:
        return
    version.acknowledgement = Acknowledgement.ACKNOWLEDGED
    version.save(update_fields=["acknowledgement"])


def awaiting_without_document():
    """Target agreement versions in force that await the employee's acknowledgement and were
    never issued as a document (the issuing task's work; the warnings chase them as they
    are until then)."""
    issued = Document.objects.filter(
        source_type=SOURCE_TYPE, source_id=Cast(OuterRef("pk"), CharField())
    )
    return AgreementVersion.objects.filter(
        state=AgreementState.PUBLISHED,
        acknowledgement=Acknowledgement.PENDING,
        agreement__in_force=F("pk"),
    ).exclude(Exists(issued))


def issue_pending(limit: int = 500) -> int:
    """Issues, as the system, the documents of target agreement versions in force that
    await acknowledgement and have none yet: those published through the API, in bulk or
    before signing existed. Each in its own transaction, so one that cannot be issued
    (logged) holds up no other. Returns how many were issued."""
    versions = (
        awaiting_without_document()
        .select_related("agreement__employee__org_unit")
        .order_by("published_at", "pk")[:limit]
    )
    count = 0
    for version in versions:
        try:
            with transaction.atomic():
                issue_agreement(None, version)
        except (SigningError, ValueError) as exc:
            logger.warning("target agreement version %s not issued: %s", version.pk, exc)
            continue
        count += 1
    return count
