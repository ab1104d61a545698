import json

from django.core.management.base import BaseCommand, CommandError

from kaohe.ledger import proofs
from kaohe.ledger.anchors import check_history
from kaohe.ledger.audit import check_log
from kaohe.ledger.checkpoints import as_document, latest_checkpoint, make_checkpoint
from kaohe.ledger.keys import KeyFileError, rotate_key
from kaohe.ledger.models import Checkpoint, Entry


class Command(BaseCommand):
    help = (
        "The evidence ledger. `verify` recomputes the whole log from the database, follows "
        "the checkpoints' chain and, with --against, holds it to receipts kept elsewhere; "
        "`checkpoint` signs the current tree head; `proof INDEX` prints an entry's inclusion "
        "proof for `kaohe verify`; `consistency OLD NEW` proves one checkpoint extends "
        "another; `rotate-key` makes a new signing key and keeps the old public key."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser("verify", help="recompute the log and check every checkpoint")
        verify.add_argument(
            "--deep",
            action="store_true",
            help="also parse every body and check its canonical form, not only the ones "
            "after the latest checkpoint",
        )
        verify.add_argument(
            "--against",
            nargs="+",
            default=[],
            metavar="FILE",
            help="documents kept outside the database (a receipt or proof, a consistency "
            "proof, a saved checkpoint): the log must still hold each of their checkpoints",
        )
        verify.add_argument(
            "--jobs",
            type=int,
            default=None,
            metavar="N",
            help="processes sharing a large log, this one included (default: one per CPU, "
            "at most 8; 1: this one alone)",
        )
        checkpoint = actions.add_parser("checkpoint", help="sign the current tree head now")
        checkpoint.add_argument(
            "--force", action="store_true", help="sign even if the log has not grown"
        )
        proof = actions.add_parser("proof", help="inclusion proof of one entry, as JSON")
        proof.add_argument("index", type=int)
        proof.add_argument("--output", "-o", metavar="FILE", help="write here, not to stdout")
        consistency = actions.add_parser(
            "consistency", help="proof that the checkpoint of NEW_SIZE extends that of OLD_SIZE"
        )
        consistency.add_argument("old_size", type=int)
        consistency.add_argument("new_size", type=int)
        consistency.add_argument("--output", "-o", metavar="FILE")
        actions.add_parser("rotate-key", help="new signing key; the old one is retired, kept")

    def handle(self, *args, action, **options):
        try:
            getattr(self, "_" + action.replace("-", "_"))(**options)
        except KeyFileError as exc:
            raise CommandError(str(exc)) from None

    def _verify(self, deep, against, jobs, **options):
        if jobs is not None and jobs < 1:
            raise CommandError("--jobs must be at least 1")
        report = check_log(deep=deep, jobs=jobs)
        history = check_history(report, against)
        problems = [*report.problems, *history.problems]
        if not problems:
            self.stdout.write(
                f"OK: {report.size} entries, root {report.root.hex()}, "
                f"{report.checkpoints} checkpoint{'' if report.checkpoints == 1 else 's'} verified"
            )
            for line in history.lines:
                self.stdout.write(f"  {line}")
            return
        for problem in problems:
            self.stderr.write(f"FAILED: {problem}")
        raise CommandError(f"the ledger does not verify: {problems[0]}")

    def _checkpoint(self, force, **options):
        checkpoint = make_checkpoint(force=force)
        if checkpoint is None:
            checkpoint = latest_checkpoint()
            if checkpoint is None:
                raise CommandError("the log is empty; use --force to sign the empty tree")
            self.stderr.write(
                f"The log has not grown since checkpoint {checkpoint.pk} "
                f"(size {checkpoint.tree_size}); it is shown again. Use --force for a new one."
            )
        self._write(as_document(checkpoint), None)

    def _proof(self, index, output, **options):
        try:
            document = proofs.inclusion(index)
        except (Entry.DoesNotExist, LookupError):
            raise CommandError(f"there is no entry {index} in the log") from None
        self._write(document, output)

    def _consistency(self, old_size, new_size, output, **options):
        if not 0 < old_size <= new_size:
            raise CommandError("OLD_SIZE must be at least 1 and at most NEW_SIZE")
        try:
            old, new = proofs.checkpoint_of_size(old_size), proofs.checkpoint_of_size(new_size)
        except Checkpoint.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        self._write(proofs.consistency(old, new), output)

    def _rotate_key(self, **options):
        key = rotate_key()
        self.stdout.write(
            f"New signing key {key.key_id}; the previous one is retired and still verifies "
            "the checkpoints it signed."
        )

    def _write(self, document: dict, output: str | None) -> None:
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        if output is None or output == "-":
            self.stdout.write(text, ending="")
            return
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        self.stderr.write(f"Wrote {output}.")
