"""Putting documents before employees: checking a document's data, fixing its content
(canonical JSON + rendered PDF, and the hashes over both), issuing one or many, and telling
the employee.

Hashes (the contract every verifier follows):
    data_json  = RFC 8785 canonical JSON of data
    data_sha256 = SHA-256(data_json), pdf_sha256 = SHA-256(pdf)
    doc_sha256 = SHA-256(canonical({"format": "kaohe-doc/v1", "data_sha256", "pdf_sha256"}))
"""

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kaohe.ledger import bulk
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib import clock
from kaohe.lib.canonical import CanonicalError, canonical
from kaohe.lib.periods import Period
from kaohe.notify.send import Message, notify
from kaohe.org.evidence import actor_label, record
from kaohe.org.models import Employee, EmploymentStatus, reporting_subtree_sql
from kaohe.signing.models import VOID_STATES, Document, DocumentKind, DocumentState

DATA_FORMAT = "kaohe-document/v1"
DOC_FORMAT = "kaohe-doc/v1"
SECTION_BODIES = ("fields", "table", "paragraphs")
MAX_DATA_BYTES = 1_000_000


class SigningError(Exception):
    """An action was refused; the message (translated) says why, for the user. Imported by
    callers from kaohe.signing.actions."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


class ContentError(ValueError):
    """The document's data does not follow "kaohe-document/v1"; the message says where."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def doc_hash(data_sha256: str, pdf_sha256: str) -> str:
    body = {"format": DOC_FORMAT, "data_sha256": data_sha256, "pdf_sha256": pdf_sha256}
    return sha256_hex(canonical(body))


def document_head(
    kind: str,
    title: str,
    employee: Employee,
    period: Period,
    *,
    company: str,
    org_unit: str | None = None,
    position: str | None = None,
) -> dict:
    """The fields every "kaohe-document/v1" document starts with; the org unit and position
    default to the employee's current ones (a result keeps those of its cycle)."""
    return {
        "format": DATA_FORMAT,
        "kind": str(kind),
        "title": title,
        "company": company,
        "employee": {
            "employee_no": employee.employee_no,
            "name": employee.name,
            "org_unit": org_unit if org_unit is not None else employee.org_unit.name,
            "position": position if position is not None else employee.position,
        },
        "period": {
            "kind": str(period.kind),
            "start": period.start.isoformat(),
            "end": (period.end - dt.timedelta(days=1)).isoformat(),
            "label": period.chinese_label,
        },
    }  # fmt: skip


@dataclass(frozen=True)
class Fixed:
    """A document's content as it will be stored and hashed."""

    data: dict
    data_json: str
    pdf: bytes
    data_sha256: str
    pdf_sha256: str
    doc_sha256: str


def fix_content(data: dict) -> Fixed:
    """Checks `data`, serialises it canonically and renders its PDF."""
    check_data(data)
    data_json = canonical(data)
    pdf = _render(data)
    data_sha, pdf_sha = sha256_hex(data_json), sha256_hex(pdf)
    return Fixed(data, data_json.decode(), pdf, data_sha, pdf_sha, doc_hash(data_sha, pdf_sha))


def _render(data: dict) -> bytes:
    from kaohe.signing.render import render_document  # the "seal" helper's renderer

    return render_document(data)


def check_data(data: dict) -> None:
    """Raises ContentError unless `data` is a "kaohe-document/v1" dict of strings and ints."""
    if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
        raise ContentError(f'data["format"] must be "{DATA_FORMAT}"')
    if data.get("kind") not in DocumentKind.values:
        raise ContentError(f'data["kind"] must be one of {", ".join(DocumentKind.values)}')
    for key in ("title", "company", "statement"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ContentError(f'data["{key}"] must be a non-empty string')
    for key in ("employee", "source"):
        if not isinstance(data.get(key), dict):
            raise ContentError(f'data["{key}"] must be an object')
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        raise ContentError('data["sections"] must be a non-empty list')
    for i, section in enumerate(sections):
        _check_section(section, f"sections[{i}]")
    _check_scalars(data, "data")
    try:
        size = len(canonical(data))
    except CanonicalError as exc:
        raise ContentError(str(exc)) from exc
    if size > MAX_DATA_BYTES:
        raise ContentError(f"data is {size} bytes; at most {MAX_DATA_BYTES}")


def _check_section(section, where: str) -> None:
    if not isinstance(section, dict) or not isinstance(section.get("heading"), str):
        raise ContentError(f"{where} must be an object with a string heading")
    bodies = [key for key in SECTION_BODIES if key in section]
    if len(bodies) != 1 or set(section) != {"heading", *bodies}:
        raise ContentError(f"{where} must have exactly one of {', '.join(SECTION_BODIES)}")
    body = section[bodies[0]]
    if bodies[0] == "fields":
        ok = isinstance(body, list) and all(isinstance(f, list) and len(f) == 2 for f in body)
    elif bodies[0] == "table":
        ok = _table_ok(body)
    else:
        ok = isinstance(body, list) and all(isinstance(p, str) for p in body)
    if not ok:
        raise ContentError(f"{where}.{bodies[0]} is malformed")


def _table_ok(table) -> bool:
    if not isinstance(table, dict) or set(table) != {"columns", "rows"}:
        return False
    columns, rows = table["columns"], table["rows"]
    if not isinstance(columns, list) or not isinstance(rows, list):
        return False
    return all(isinstance(row, list) and len(row) == len(columns) for row in rows)


def _check_scalars(value, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_scalars(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_scalars(item, f"{where}[{i}]")
    elif isinstance(value, bool) or not isinstance(value, str | int):
        raise ContentError(f"{where} must be a string or an integer, not {type(value).__name__}")


# -- who may issue ------------------------------------------------------------------------


def may_issue(actor, employee: Employee) -> bool:
    """The system (None), HR of the employee's unit, HR admins, and her managers; never the
    employee herself."""
    if actor is None:
        return True
    if getattr(actor, "employee", None) is not None and actor.employee.pk == employee.pk:
        return False
    if Employee.objects.managed_by(actor).filter(pk=employee.pk).exists():
        return True
    me = getattr(actor, "employee", None)
    if me is None or me.status == EmploymentStatus.TERMINATED:
        return False
    return Employee.objects.filter(pk=employee.pk, id__in=reporting_subtree_sql(me.pk)).exists()


# -- issuing ------------------------------------------------------------------------------


def issue(
    actor,
    *,
    kind,
    employee,
    title,
    data,
    source_type,
    source_id,
    due_at=None,
    supersedes=None,
) -> Document:
    """Issues one document in the caller's transaction (ledger entry "document.issued"); a
    superseded document becomes SUPERSEDED. The employee is told once the change commits.
    Raises SigningError (not allowed, bad data, wrong state)."""
    spec = dict(kind=kind, employee=employee, title=title, data=data, source_type=source_type,
                source_id=source_id, due_at=due_at, supersedes=supersedes)  # fmt: skip
    _check_spec(actor, spec)
    fixed = _fix(spec)
    with transaction.atomic():
        if Document.objects.filter(doc_sha256=fixed.doc_sha256).exists():
            raise SigningError(_("This exact document was issued before."))
        old = _lock_superseded(supersedes)
        document = _new_document(actor, spec, fixed)
        document.save(force_insert=True)  # the PDF's insert before the ledger's lock
        entry = record("document.issued", actor, _issued_payload(document, old), employee,
                       document=str(document.public_id))  # fmt: skip
        document.issued_entry = entry.index
        document.save(update_fields=["issued_entry"])
        transaction.on_commit(lambda: _enqueue_delivery([document.pk]))
    return document


def issue_many(actor, specs: list[dict]) -> list[Document]:
    """Issues many documents at once (same keys as `issue`), all or none: PDFs are rendered
    first, then one bulk ledger append and one bulk insert; the employees are told by one
    task after commit."""
    for spec in specs:
        spec.setdefault("due_at", None)
        spec.setdefault("supersedes", None)
        _check_spec(actor, spec)
    fixed = [_fix(spec) for spec in specs]
    documents: list[Document] = []
    with transaction.atomic():
        olds = {spec["supersedes"].pk: _lock_superseded(spec["supersedes"])
                for spec in specs if spec["supersedes"] is not None}  # fmt: skip
        documents = [_new_document(actor, spec, f) for spec, f in zip(specs, fixed, strict=True)]
        # The rows (and their PDFs, some 25 kB each) go in before the ledger is appended to:
        # on PostgreSQL the log stays locked for every other writer from the append on.
        Document.objects.bulk_create(documents, batch_size=500)
        ids = list(
            Document.objects.filter(public_id__in=[d.public_id for d in documents]).values_list(
                "public_id", "pk"
            )
        )
        by_public = dict(ids)
        for document in documents:
            document.pk = by_public[document.public_id]
        first = _append_issued(actor, documents, olds)
        for offset, document in enumerate(documents):
            document.issued_entry = first + offset
        Document.objects.bulk_update(documents, ["issued_entry"], batch_size=1000)
        pks = [document.pk for document in documents]
        transaction.on_commit(lambda: _enqueue_delivery(pks))
    return documents


def _check_spec(actor, spec: dict) -> None:
    employee = spec["employee"]
    if not may_issue(actor, employee):
        raise SigningError(_("You may not issue documents to this employee."))
    if spec["kind"] not in DocumentKind.values:
        raise SigningError(_("Unknown document kind."))
    if spec["data"].get("kind") != spec["kind"]:
        raise SigningError(_("The document's data is of another kind."))
    old = spec["supersedes"]
    if old is not None and (old.employee_id != employee.pk or old.kind != spec["kind"]):
        raise SigningError(_("A document can only supersede one of the same employee and kind."))


def _fix(spec: dict) -> Fixed:
    try:
        return fix_content(spec["data"])
    except ContentError as exc:
        raise SigningError(
            _("The document's content is invalid: %(reason)s") % {"reason": exc}
        ) from exc


def _lock_superseded(old: Document | None) -> Document | None:
    if old is None:
        return None
    old = Document.objects.select_for_update().get(pk=old.pk)
    if old.state in VOID_STATES:
        raise SigningError(_("The document to supersede is no longer in force."))
    old.state, old.closed_at = DocumentState.SUPERSEDED, old.closed_at or clock.now()
    old.save(update_fields=["state", "closed_at"])
    return old


def _new_document(actor, spec: dict, fixed: Fixed) -> Document:
    return Document(
        kind=spec["kind"], employee=spec["employee"], title=spec["title"][:200],
        source_type=spec["source_type"], source_id=str(spec["source_id"]),
        data=fixed.data, data_json=fixed.data_json, pdf=fixed.pdf,
        data_sha256=fixed.data_sha256, pdf_sha256=fixed.pdf_sha256, doc_sha256=fixed.doc_sha256,
        supersedes=spec["supersedes"], issued_by=actor if actor is not None else None,
        issued_at=clock.now(), due_at=spec["due_at"],
        issued_entry=-1,  # until the entry is appended, in the same transaction
    )  # fmt: skip


def _issued_payload(document: Document, old: Document | None) -> dict:
    payload = {
        "document": str(document.public_id),
        "kind": document.kind,
        "title": document.title,
        "source": {"type": document.source_type, "id": document.source_id},
        "doc_sha256": document.doc_sha256,
        "data_sha256": document.data_sha256,
        "pdf_sha256": document.pdf_sha256,
    }
    if document.due_at is not None:
        payload["due_at"] = document.due_at.isoformat()
    if old is not None:
        payload["supersedes"] = str(old.public_id)
    return payload


def _append_issued(actor, documents: list[Document], olds: dict) -> int:
    """Appends one "document.issued" entry per document in bulk; returns the first index."""
    from kaohe.ledger.models import LogHead

    label = actor_label(actor)
    items = [
        ("document.issued",
         {"employee": d.employee.employee_no, "document": str(d.public_id)},
         label, _issued_payload(d, olds.get(d.supersedes_id)))
        for d in documents
    ]  # fmt: skip
    bulk.append_many(items)
    size = LogHead.objects.values_list("size", flat=True).get(pk=1)
    transaction.on_commit(checkpoint_task.enqueue)
    return size - len(items)


# -- delivery -----------------------------------------------------------------------------


def _enqueue_delivery(pks: list[int]) -> None:
    from kaohe.signing.tasks import deliver_documents

    for start in range(0, len(pks), 500):
        deliver_documents.enqueue(pks[start : start + 500])


def document_url(document: Document) -> str:
    return f"/app/documents/{document.public_id}/"


def deliver(pks: list[int]) -> int:
    """Tells each employee of their new document (inbox and e-mail) and records delivery
    ("document.delivered"); documents delivered before, or no longer pending, are skipped."""
    done = 0
    with transaction.atomic():
        rows = (
            Document.objects.select_for_update(of=("self",))
            .filter(pk__in=pks, delivered_at__isnull=True, state=DocumentState.PENDING)
            .select_related("employee__user")
        )
        now, entries = clock.now(), []
        for document in rows:
            notify([document.employee], _delivery_message(document),
                   dedupe_key=f"document:{document.public_id}:issued")  # fmt: skip
            document.delivered_at = now
            document.save(update_fields=["delivered_at"])
            entries.append(
                ("document.delivered",
                 {"employee": document.employee.employee_no, "document": str(document.public_id)},
                 "system",
                 {"document": str(document.public_id), "doc_sha256": document.doc_sha256,
                  "channels": ["inbox", "email"]})
            )  # fmt: skip
            done += 1
        if entries:
            bulk.append_many(entries)
            transaction.on_commit(checkpoint_task.enqueue)
    return done


def _delivery_message(document: Document) -> Message:
    from django.utils.text import format_lazy

    return Message(
        "document.issued",
        title=format_lazy(gettext_lazy("A document awaits your confirmation: {title}"),
                          title=document.title),
        body=gettext_lazy("Open it, read it to the end, then sign it or say why you disagree."),
        url=document_url(document),
        level="info",
        data={"document": str(document.public_id)},
    )  # fmt: skip
