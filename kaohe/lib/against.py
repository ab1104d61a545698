"""`kaohe verify FILE... --against RECEIPT...`: are the FILEs consistent with what was handed
out before (an employee's receipt, a checkpoint an auditor saved)?

Every signed checkpoint in a receipt must be consistent with every signed checkpoint in the
FILEs. Two checkpoints are consistent when they are of the same log and

- they have the same size and root: the same tree (their signatures were each checked with
  the trusted keys, so which of several signed copies was kept does not matter); or
- each is the tree of, or by a consistency document among the FILEs a proven prefix of, one
  and the same checkpoint among them: the smaller is then a prefix of the larger.

kaohe fetches nothing. The user gets a consistency document with `kaohe ledger consistency
OLD NEW`, or at /api/v1/ledger/consistency?old=OLD&new=NEW, and passes it as one more FILE;
the message for a missing one names those two sizes. No longer chains of proofs are
followed: one document from the receipt's size to the newest checkpoint always suffices,
and the rule stays small and exact. Same size with another root is a fork, reported before
anything else; a checkpoint that nothing links is reported as unproven, never as consistent.
"""

from collections.abc import Sequence
from typing import Any

from kaohe.lib.checkpoint import VerifyError

__all__ = ["CONSISTENCY_URL", "Link", "verify_against"]

CONSISTENCY_URL = "/api/v1/ledger/consistency"

Named = Sequence[tuple[str, dict[str, Any]]]  # (file name, signed checkpoint)
Link = tuple[str, dict[str, Any], dict[str, Any]]  # (file name, old checkpoint, new one)


def verify_against(shown: Named, held: Named, links: Sequence[Link]) -> list[str]:
    """Lines saying how each receipt checkpoint (`held`, by file name) agrees with each
    checkpoint of the files (`shown`), or VerifyError for the first that does not. `links`
    are the files' consistency documents. Every checkpoint and proof must have been checked
    already (kaohe.lib.verify.verify_document)."""
    trees = [cp for _, cp in [*shown, *held]]
    pairs = [(receipt, old, name, new) for receipt, old in held for name, new in shown]
    for pair in pairs:  # a contradiction first: it outweighs a missing proof
        _contradiction(*pair)
    lines: list[str] = []
    for pair in pairs:
        line = _agreement(*pair, links, trees)
        if line not in lines:
            lines.append(line)
    return lines


def _contradiction(receipt: str, held: dict[str, Any], name: str, shown: dict[str, Any]) -> None:
    if held["log_id"] != shown["log_id"]:
        raise VerifyError(f"{receipt} is of log {held['log_id']}, {name} of log {shown['log_id']}")
    if held["tree_size"] == shown["tree_size"] and held["root_hash"] != shown["root_hash"]:
        raise VerifyError(
            f"{receipt} and {name} both sign tree size {held['tree_size']} but with different "
            "roots: the log was rewritten after the receipt was handed out"
        )


def _agreement(
    receipt: str,
    held: dict[str, Any],
    name: str,
    shown: dict[str, Any],
    links: Sequence[Link],
    trees: list[dict[str, Any]],
) -> str:
    """Two checkpoints agree when both are the tree of one checkpoint or proven prefixes of
    it: the smaller is then a prefix of the larger."""
    m, n = held["tree_size"], shown["tree_size"]
    said = f"{receipt}: checkpoint {m} ({held['time']})"
    if _same_tree(held, shown):
        return f"{said} is the tree {name} shows"
    for top in trees:
        first, second = _prefix_proof(held, top, links), _prefix_proof(shown, top, links)
        if first is not None and second is not None:
            proofs = " and ".join(sorted({p for p in (first, second) if p}))
            return (
                f"{said} and {name}'s checkpoint {n} are consistent: the consistency proof in "
                f"{proofs} puts both in the tree of size {top['tree_size']}"
            )
    small, large = min(m, n), max(m, n)
    raise VerifyError(
        f"nothing shows that {name}'s checkpoint {n} is consistent with {receipt}'s checkpoint "
        f"{m}: add the consistency proof between them as one more FILE (`kaohe ledger "
        f"consistency {small} {large}`, or {CONSISTENCY_URL}?old={small}&new={large})"
    )


def _prefix_proof(tree: dict[str, Any], top: dict[str, Any], links: Sequence[Link]) -> str | None:
    """The empty string when `tree` is the tree `top`, the name of the file proving it a
    prefix of `top`, or None."""
    if _same_tree(tree, top):
        return ""
    found = (name for name, old, new in links if _same_tree(old, tree) and _same_tree(new, top))
    return next(found, None)


def _same_tree(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("log_id", "tree_size", "root_hash")
    return all(a.get(field) == b.get(field) for field in fields)
