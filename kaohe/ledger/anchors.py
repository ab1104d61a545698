"""What the database cannot vouch for by itself, checked after `check_log` recomputed the log.

Someone with the database and the signing key can cut the log's tail or rewrite an entry,
recompute the tree and re-sign the checkpoints; the recomputation then agrees with itself.
Two things still show it:

- The checkpoints' chain. Each names the hash of the one made before it ("previous",
  kaohe.lib.checkpoint), so one removed or altered in the middle breaks the chain at the
  next. Checkpoints made before the chain existed have no "previous"; that is accepted only
  before the first one that has it. Also flagged: two checkpoints of one size with different
  roots, a checkpoint dated before a smaller one (a log only grows), and an RFC 3161
  timestamp more than rfc3161.LATE after its checkpoint (kaohe never stores one that late,
  see kaohe.ledger.timestamps: it was obtained after the fact).
- Copies held outside the database (`kaohe ledger verify --against FILE...`): an employee's
  receipt, an exported proof, a checkpoint an auditor saved. Each is checked as `kaohe
  verify` checks it, with the key files as trust anchor; then the log must still reach the
  size of each of its checkpoints, its root at that size must be the checkpoint's, and the
  checkpoint itself must still be stored. The signer keeps one such copy itself, of the
  latest checkpoint it made (kaohe.ledger.witness), which is checked on every run: deleting
  the newest checkpoints and rewriting what they covered breaks no chain, but shows there.

The root at a receipt's size is the recomputed one when the receipt is at the log's size;
otherwise it is folded from the stored nodes (kaohe.ledger.tree), which check_log has just
compared with the entries: when its report is clean they are the recomputation, and when it
is not the verify fails anyway.
"""

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from kaohe.ledger import tree, witness
from kaohe.ledger.audit import Problem, Report
from kaohe.ledger.checkpoints import signed_value
from kaohe.ledger.keys import keys_on_disk
from kaohe.ledger.models import Checkpoint, LogHead, TimestampStatus
from kaohe.ledger.timestamps import token_time, too_late, trust_roots
from kaohe.lib.checkpoint import GENESIS, VerifyError, checkpoint_hash
from kaohe.lib.verify import document_checkpoints, load_json, read_file, verify_document

__all__ = ["History", "check_history"]


@dataclass
class History:
    problems: list[Problem] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what held up, for the report


def check_history(report: Report, receipts: Sequence[str] = ()) -> History:
    """The chain and order of the stored checkpoints, and each receipt file against the
    log whose recomputation is `report` (check_log's)."""
    checkpoints = list(Checkpoint.objects.order_by("pk"))
    history = History()
    history.problems += chain_problems(checkpoints)
    history.problems += fork_problems(checkpoints)
    history.problems += order_problems(checkpoints)
    history.problems += late_problems(checkpoints)
    history.lines += _summary(checkpoints)
    stored = {_hash(cp) for cp in checkpoints}
    for path in receipts:
        problems, lines = receipt_problems(path, report, stored)
        history.problems += problems
        history.lines += lines
    problems, lines = _witness_problems(report, stored)
    history.problems += problems
    history.lines += lines
    return history


def _witness_problems(report: Report, stored: set[str]) -> tuple[list[Problem], list[str]]:
    """The log held to the signer's copy of its latest checkpoint (kaohe.ledger.witness),
    as check_log read it before the log."""
    copy = report.witness_copy
    if copy is None:
        return [], [f"no copy of a checkpoint signed here is kept yet ({witness.path()})"]
    label = f"the latest checkpoint signed here ({copy.path})"
    try:
        if copy.data is None:
            raise VerifyError(copy.error)
        held = _checkpoints_held(copy.data, "the file")
    except VerifyError as exc:
        return [Problem("witness", f"{label} cannot be used: {exc}")], []
    problems, lines = _held_to_the_log(label, held, report, stored)
    hint = (f" (if the database was replaced on purpose, by a restored backup or a new "
            f"installation, move {copy.path} aside)")  # fmt: skip
    return [Problem("witness", p.message + hint) for p in problems], lines


# -- the stored checkpoints --


def chain_problems(checkpoints: list[Checkpoint]) -> list[Problem]:
    """Each chained checkpoint (in the order they were made) must follow the one before it;
    none after the first chained one may lack "previous"."""
    problems = []
    before: Checkpoint | None = None
    first_chained: Checkpoint | None = None
    known = {_hash(cp): cp for cp in checkpoints}
    for cp in checkpoints:
        previous = _previous(cp)
        if previous is None and first_chained is not None:
            reason = (
                f"it names no previous checkpoint, yet it was made after checkpoint "
                f"#{first_chained.pk}, the first that does: it was inserted or re-signed "
                "outside kaohe"
            )
            problems.append(_bad("chain", cp, reason))
        elif previous is not None:
            first_chained = first_chained or cp
            expected = _hash(before) if before is not None else GENESIS
            if previous != expected:
                problems.append(_bad("chain", cp, _broken(previous, before, known)))
        before = cp
    return problems


def fork_problems(checkpoints: list[Checkpoint]) -> list[Problem]:
    """Two checkpoints of one size must have one root."""
    first_of_size: dict[int, Checkpoint] = {}
    problems = []
    for cp in checkpoints:
        seen = first_of_size.setdefault(cp.tree_size, cp)
        if seen.root_hash != cp.root_hash:
            reason = (
                f"checkpoint #{seen.pk} signs the same size with root {seen.root_hash}, "
                f"this one with {cp.root_hash}: the log was rewritten between them"
            )
            problems.append(_bad("fork", cp, reason))
    return problems


def order_problems(checkpoints: list[Checkpoint]) -> list[Problem]:
    """A checkpoint of a larger size may not be dated before one of a smaller size."""
    problems = []
    latest: Checkpoint | None = None  # the latest-dated of the smaller sizes
    by_size = sorted(checkpoints, key=lambda cp: (cp.tree_size, cp.pk))
    for _, same_size in itertools.groupby(by_size, key=lambda cp: cp.tree_size):
        group = list(same_size)
        for cp in group:
            if latest is not None and cp.created_at < latest.created_at:
                reason = (
                    f"it is dated {_time(cp)}, before checkpoint #{latest.pk} of the smaller "
                    f"size {latest.tree_size} ({_time(latest)}): a log only grows, so one of "
                    "them was signed with a false time"
                )
                problems.append(_bad("order", cp, reason))
        newest = max(group, key=lambda cp: cp.created_at)
        if latest is None or newest.created_at > latest.created_at:
            latest = newest
    return problems


def late_problems(checkpoints: list[Checkpoint]) -> list[Problem]:
    """A stored timestamp more than rfc3161.LATE after its checkpoint."""
    problems = []
    for cp in checkpoints:
        if cp.timestamp_status != TimestampStatus.STAMPED or not cp.timestamp_token:
            continue
        try:
            stamped = token_time(bytes(cp.timestamp_token))
        except VerifyError:
            continue  # check_log says the token cannot be read
        if late := too_late(cp, stamped):
            reason = (
                f"its RFC 3161 timestamp ({stamped:%Y-%m-%dT%H:%M:%SZ}) is {late} after its "
                f"own time ({_time(cp)}): it was obtained after the fact (kaohe stores none "
                "that late)"
            )
            problems.append(_bad("late-timestamp", cp, reason))
    return problems


def _summary(checkpoints: list[Checkpoint]) -> list[str]:
    chained = sum(_previous(cp) is not None for cp in checkpoints)
    lines = [
        f"checkpoint chain: {chained} chained, {len(checkpoints) - chained} from before the chain"
    ]
    stamped = sum(cp.timestamp_status == TimestampStatus.STAMPED for cp in checkpoints)
    if stamped:
        try:
            roots = trust_roots()
        except VerifyError:
            roots = None  # check_log has reported every token as failing already
        anchor = (
            "chain to KAOHE_TSA_ROOTS"
            if roots is not None
            else "were not checked against a trust root (set KAOHE_TSA_ROOTS)"
        )
        lines.append(f"timestamps: {stamped} verified; their TSA certificates {anchor}")
    return lines


def _broken(previous: str, before: Checkpoint | None, known: dict[str, Checkpoint]) -> str:
    if previous == GENESIS and before is not None:
        return (
            f"it claims to be the log's first checkpoint, yet checkpoint #{before.pk} "
            "was made before it: the chain was restarted"
        )
    if previous in known:
        other = known[previous]
        return (
            f"it follows checkpoint #{other.pk} (size {other.tree_size}), not the one "
            f"made just before it: checkpoints were inserted or reordered"
        )
    return (
        f"the checkpoint it follows (hash {previous[:16]}…) is not stored: a checkpoint "
        "was deleted or altered"
    )


def _previous(cp: Checkpoint) -> str | None:
    previous = signed_value(cp, "previous")
    return previous if isinstance(previous, str) else None


def _hash(cp: Checkpoint) -> str:
    """checkpoint_hash of the stored checkpoint: its body is the signed bytes."""
    return hashlib.sha256(cp.body.encode()).hexdigest()


def _time(cp: Checkpoint) -> str:
    return f"{cp.created_at:%Y-%m-%dT%H:%M:%SZ}"


def _bad(kind: str, cp: Checkpoint, reason: str) -> Problem:
    message = f"checkpoint #{cp.pk} (size {cp.tree_size}): {reason}"
    return Problem(kind, message, checkpoint=cp.pk)


# -- receipts held outside --


def receipt_problems(
    path: str, report: Report, stored: set[str]
) -> tuple[list[Problem], list[str]]:
    """The problems with one receipt file, or the lines saying each of its checkpoints
    matches the log."""
    try:
        held = _checkpoints_held(read_file(path), path)
    except VerifyError as exc:
        reason = str(exc)
        message = reason if reason.startswith(f"{path}:") else f"{path}: {reason}"
        return [Problem("receipt", message)], []
    return _held_to_the_log(path, held, report, stored)


def _checkpoints_held(data: bytes, what: str) -> list[dict]:
    """The signed checkpoints of a document, checked as `kaohe verify` checks it with the
    key files as trust anchor; VerifyError when it does not hold up."""
    doc = load_json(data, what)
    verify_document(doc, keys_on_disk(), trust_roots())
    return document_checkpoints(doc)


def _held_to_the_log(
    name: str, held: list[dict], report: Report, stored: set[str]
) -> tuple[list[Problem], list[str]]:
    log_id = LogHead.objects.filter(pk=1).values_list("log_id", flat=True).first() or ""
    problems, lines = [], []
    for checkpoint in held:
        reason = _receipt_problem(checkpoint, log_id, report, stored)
        if reason:
            problems.append(Problem("receipt", f"{name}: {reason}"))
        else:
            lines.append(
                f"{name}: checkpoint {checkpoint['tree_size']} signed at "
                f"{checkpoint['time']} matches the log"
            )
    return problems, lines


def _receipt_problem(checkpoint: dict, log_id: str, report: Report, stored: set[str]) -> str:
    size, when = checkpoint["tree_size"], checkpoint["time"]
    if checkpoint["log_id"] != log_id:
        return f"the receipt is of log {checkpoint['log_id']}, the database holds log {log_id}"
    if size > report.size:
        return (
            f"the log has {report.size} entries but a receipt signed at {when} covers "
            f"{size}: entries were removed"
        )
    try:
        root = report.root if size == report.size else tree.root(size)
    except KeyError:
        return f"the log's root at size {size} cannot be computed: stored tree nodes are missing"
    if root.hex() != checkpoint["root_hash"]:
        return (
            f"the root at size {size} differs from the receipt's (signed at {when}): "
            f"history was rewritten (the log gives {root.hex()}, the receipt "
            f"{checkpoint['root_hash']})"
        )
    if checkpoint_hash(checkpoint) not in stored:
        return (
            f"the receipt's checkpoint of size {size} signed at {when} is not among the "
            "stored checkpoints: it was deleted"
        )
    return ""
