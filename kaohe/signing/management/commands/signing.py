from django.core.management.base import BaseCommand, CommandError

from kaohe.signing.integrity import check_document
from kaohe.signing.models import Document


class Command(BaseCommand):
    help = (
        "Signing. `check DOCUMENT_ID` (or `check --all`) recomputes a document's hashes from "
        "its stored data and PDF and holds them, its signature's evidence, its passkey "
        "assertion and its sealed letter to the ledger entries that fixed them; it exits "
        "non-zero naming each document and field that disagrees."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        check = actions.add_parser("check", help="check documents against the ledger")
        check.add_argument("document", nargs="?", metavar="DOCUMENT_ID")
        check.add_argument("--all", action="store_true", help="check every document")

    def handle(self, *args, action, **options):
        if options["all"] == bool(options["document"]):
            raise CommandError("give either a DOCUMENT_ID or --all")
        documents = Document.objects.select_related("employee").order_by("pk")
        if options["document"]:
            documents = documents.filter(public_id=_uuid(options["document"]))
            if not documents.exists():
                raise CommandError(f"there is no document {options['document']}")
        problems, count = [], 0
        for document in documents.iterator(chunk_size=200):
            problems += check_document(document)
            count += 1
        for line in problems:
            self.stderr.write(line)
        if problems:
            raise CommandError(f"{len(problems)} problem(s) in {count} document(s)")
        self.stdout.write(f"{count} document(s) agree with the ledger")


def _uuid(text: str):
    import uuid

    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a document id") from exc
