"""Roots and proofs at any tree size, each from one query over the stored perfect subtrees."""

from kaohe.ledger.models import LogHead, Node
from kaohe.lib import merkle
from kaohe.lib.merkle import Key


def size() -> int:
    """The number of committed entries (0 before the first append)."""
    head = LogHead.objects.filter(pk=1).values_list("size", flat=True).first()
    return head or 0


def root(tree_size: int) -> bytes:
    """The RFC 9162 root hash of the first `tree_size` entries."""
    keys = merkle.subtrees(0, tree_size)
    found = lookup(keys)
    return merkle.fold([found[key] for key in keys])


def inclusion_proof(index: int, tree_size: int) -> list[bytes]:
    """The audit path of entry `index` in the tree of `tree_size` entries, bottom-up."""
    return merkle.resolve(merkle.inclusion_plan(index, tree_size), lookup)


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 proof that the tree of `new_size` entries extends the one of `old_size`."""
    return merkle.resolve(merkle.consistency_plan(old_size, new_size), lookup)


def lookup(keys: list[Key]) -> dict[Key, bytes]:
    """The stored hashes of the perfect subtrees `keys`, in one query; raises KeyError when
    one is missing (the log is damaged: `kaohe ledger verify` says where)."""
    if not keys:
        return {}
    wanted = {Node.key(level, index): (level, index) for level, index in keys}
    rows = Node.objects.filter(id__in=list(wanted)).values_list("id", "hash")
    found = {wanted[pk]: bytes(h) for pk, h in rows}
    missing = [key for key in keys if key not in found]
    if missing:
        raise KeyError(f"ledger nodes missing for (level, index) {missing}")
    return found
