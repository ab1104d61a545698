"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, section 2.1, without storage.

The ledger stores the hash of every complete ("perfect") subtree, named (level, index): it
covers leaves [index * 2**level, (index + 1) * 2**level), and level 0 holds the leaf hashes.
Any hash that RFC 9162's recursion asks for (a root, an audit path element, a consistency
proof element) is the `fold` of at most log2(n) such stored subtrees. The `*_plan` functions
name those subtrees, `resolve` fetches them with one lookup and folds them.

Proofs are lists of hashes in the order RFC 9162 gives them (bottom-up), so any RFC 9162
implementation can check what `verify_inclusion` and `verify_consistency` check.
"""

from collections.abc import Callable, Iterable
from hashlib import sha256

__all__ = [
    "EMPTY_ROOT",
    "Key",
    "Plan",
    "TreeBuilder",
    "consistency_plan",
    "digests",
    "fold",
    "inclusion_plan",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "parent_hashes",
    "resolve",
    "subtrees",
    "verify_consistency",
    "verify_inclusion",
]

Key = tuple[int, int]  # (level, index) of a perfect subtree
Plan = list[list[Key]]  # one list of perfect subtrees per proof element

EMPTY_ROOT = sha256(b"").digest()

_LEAF = b"\x00"
_NODE = b"\x01"
# Copying a context that has already taken the prefix byte is cheaper than building a new one
# and concatenating: this is the verifier's inner loop. The originals are never updated.
_LEAF_CTX = sha256(_LEAF)
_NODE_CTX = sha256(_NODE)


def leaf_hash(entry: bytes) -> bytes:
    c = _LEAF_CTX.copy()
    c.update(entry)
    return c.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(_NODE + left + right).digest()


def leaf_hashes(entries: Iterable[bytes | None], missing: bytes | None = None) -> list[bytes]:
    """`leaf_hash` of each entry, in one tight loop (a verifier's inner loop); an entry that
    is None gets `missing` instead."""
    leaves: list[bytes] = []
    keep, leaf = leaves.append, _LEAF_CTX.copy
    for entry in entries:
        if entry is None:
            if missing is None:
                raise TypeError("an entry is None and no stand-in was given")
            keep(missing)
            continue
        c = leaf()
        c.update(entry)
        keep(c.digest())
    return leaves


def digests(messages: Iterable[bytes]) -> list[bytes]:
    """SHA-256 of each message: the leaf hashes of entries given as 0x00 || entry, which
    is how a verifier reading entries in bulk can have them (cheaper than `leaf_hashes`)."""
    return [sha256(message).digest() for message in messages]


def parent_hashes(level: list[bytes]) -> list[bytes]:
    """`node_hash` of each pair of a level, left to right; a last odd one has no parent."""
    parents: list[bytes] = []
    keep, node, pairs = parents.append, _NODE_CTX.copy, iter(level)
    for left, right in zip(pairs, pairs, strict=False):
        c = node()
        c.update(left)
        c.update(right)
        keep(c.digest())
    return parents


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[Key]:
    """The perfect subtrees that make up leaves [start, end), largest (leftmost) first.

    They follow the binary representation of end - start, so `start` must be a multiple of
    the largest of them, as it is for every range RFC 9162's recursion visits.
    """
    if not 0 <= start <= end:
        raise ValueError(f"not a leaf range: [{start}, {end})")
    keys: list[Key] = []
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        if start & ((1 << level) - 1):
            raise ValueError(f"[{start}, {end}) is not a range of RFC 9162's recursion")
        keys.append((level, start >> level))
        start += 1 << level
        remaining -= 1 << level
    return keys


def fold(hashes: list[bytes]) -> bytes:
    """The RFC 9162 hash of a range from its perfect subtrees' hashes, left to right."""
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = sha256(_NODE + left + h).digest()
    return h


def inclusion_plan(leaf_index: int, tree_size: int) -> Plan:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, bottom-up, each element as perfect subtrees."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    plan: Plan = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + _split(end - start)
        if leaf_index < mid:
            plan.append(subtrees(mid, end))
            end = mid
        else:
            plan.append(subtrees(start, mid))
            start = mid
    plan.reverse()
    return plan


def consistency_plan(old_size: int, new_size: int) -> Plan:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1, in the RFC's order, each element as perfect subtrees.

    Empty when the sizes are equal. RFC 9162 defines no proof from the empty tree (it is
    consistent with every tree, which needs no proof), so old_size 0 is a ValueError, as is
    old_size > new_size.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    plan: Plan = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        mid = start + _split(end - start)
        if start + m <= mid:
            plan.append(subtrees(mid, end))
            end = mid
        else:
            plan.append(subtrees(start, mid))
            m -= mid - start
            start, whole = mid, False
    if not whole:
        plan.append(subtrees(start, end))
    plan.reverse()
    return plan


def resolve(plan: Plan, lookup: Callable[[list[Key]], dict[Key, bytes]]) -> list[bytes]:
    """The proof hashes of `plan`. `lookup` is called once, with every key the plan needs,
    and must return the hash of each; a missing one raises KeyError."""
    keys = list(dict.fromkeys(key for element in plan for key in element))
    found = lookup(keys) if keys else {}
    missing = [key for key in keys if key not in found]
    if missing:
        raise KeyError(f"subtree hashes missing for (level, index) {missing}")
    return [fold([found[key] for key in element]) for element in plan]


def verify_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, audit_path: list[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does `audit_path` prove leaf `leaf_index` is in the tree?"""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does `proof` show the tree of `new_size` extends the one of
    `old_size`? Equal sizes need an empty proof and equal roots; old_size 0 is never proven
    (see `consistency_plan`)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


class TreeBuilder:
    """Builds the tree leaf by leaf, keeping only the right edge: the hashes of the perfect
    subtrees that make up the tree so far (`subtrees(0, size)`), largest first.

    `append` also returns the nodes each leaf completes, for a bulk loader to store;
    `append_only`, `extend` and `extend_entries` skip that for the verifier's inner loop.
    `push_subtree` and `absorb` join pieces built elsewhere (in parallel, or from storage).
    """

    __slots__ = ("_edge", "size")

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[bytes] = []

    @classmethod
    def resume(cls, size: int, edge: list[bytes]) -> "TreeBuilder":
        """A builder for a tree of `size` leaves whose `subtrees(0, size)` hash to `edge`."""
        if len(edge) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} edge subtrees")
        builder = cls()
        builder.size = size
        builder._edge = list(edge)
        return builder

    def append(self, leaf_hash: bytes) -> list[tuple[Key, bytes]]:
        """Adds a leaf; returns ((level, index), hash) of every perfect subtree it completes,
        starting with the leaf itself at level 0."""
        edge, index, level, h = self._edge, self.size, 0, leaf_hash
        nodes = [((0, index), h)]
        while index & 1:
            h = sha256(_NODE + edge.pop() + h).digest()
            index >>= 1
            level += 1
            nodes.append(((level, index), h))
        edge.append(h)
        self.size += 1
        return nodes

    def append_only(self, leaf_hash: bytes) -> None:
        edge, n, h = self._edge, self.size, leaf_hash
        while n & 1:
            c = _NODE_CTX.copy()
            c.update(edge.pop())
            c.update(h)
            h = c.digest()
            n >>= 1
        edge.append(h)
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """`append_only` for each leaf hash, in one loop; all or nothing, like
        `extend_entries`."""
        saved = self.size, list(self._edge)
        pop, push, node = self._edge.pop, self._edge.append, _NODE_CTX.copy
        try:
            for n, h in enumerate(leaf_hashes, self.size):
                while n & 1:
                    c = node()
                    c.update(pop())
                    c.update(h)
                    h = c.digest()
                    n >>= 1
                push(h)
                self.size += 1
        except BaseException:
            self.size, self._edge = saved
            raise

    def extend_entries(self, entries: Iterable[bytes]) -> list[bytes]:
        """Appends the entries as leaves and returns their leaf hashes: the fastest way from
        entry bytes to a root, for the verifier. All or nothing: on an error (an entry that
        is not bytes) the builder is left as it was.

        To use several processes, let each build a separate builder over an aligned run of
        leaves (a multiple of its power-of-two length) and join them with `push_subtree`.
        """
        entries = entries if isinstance(entries, list) else list(entries)
        saved = self.size, list(self._edge)
        try:
            return self._extend_serial(entries)
        except BaseException:
            self.size, self._edge = saved
            raise

    def _extend_serial(self, entries: list[bytes]) -> list[bytes]:
        # Two leaves per turn of the loop, which saves a third of the bookkeeping.
        leaves: list[bytes] = []
        keep, pop, push = leaves.append, self._edge.pop, self._edge.append
        leaf, node = _LEAF_CTX.copy, _NODE_CTX.copy
        size, first, last = self.size, 0, len(entries)
        if size & 1 and entries:
            keep(leaf_hash(entries[0]))
            self.append_only(leaves[0])
            size, first = size + 1, 1
        if (last - first) & 1:
            last -= 1
        pairs = iter(entries[first:last])
        for m, (a, b) in enumerate(zip(pairs, pairs, strict=False), size >> 1):
            c = leaf()
            c.update(a)
            ha = c.digest()
            c = leaf()
            c.update(b)
            hb = c.digest()
            keep(ha)
            keep(hb)
            c = node()
            c.update(ha)
            c.update(hb)
            h = c.digest()
            while m & 1:
                c = node()
                c.update(pop())
                c.update(h)
                h = c.digest()
                m >>= 1
            push(h)
        self.size = size + (last - first)
        if last < len(entries):
            keep(leaf_hash(entries[last]))
            self.append_only(leaves[-1])
        return leaves

    def push_subtree(self, level: int, subtree_hash: bytes) -> None:
        """Appends 2**level leaves at once, given the hash of their perfect subtree (computed
        elsewhere, e.g. by another process). The size must be a multiple of 2**level."""
        if self.size & ((1 << level) - 1):
            raise ValueError(f"a subtree of level {level} cannot start at leaf {self.size}")
        edge, n, h = self._edge, self.size >> level, subtree_hash
        while n & 1:
            h = node_hash(edge.pop(), h)
            n >>= 1
        edge.append(h)
        self.size += 1 << level

    def absorb(self, other: "TreeBuilder") -> None:
        """Appends the leaves of `other`, built separately, after this builder's leaves (as
        `push_subtree` of each of its edge subtrees, so the same alignment rule applies)."""
        for (level, _), h in zip(subtrees(0, other.size), other._edge, strict=True):
            self.push_subtree(level, h)

    def edge(self) -> list[bytes]:
        """The hashes of `subtrees(0, size)`, largest first."""
        return list(self._edge)

    def root(self) -> bytes:
        return fold(self._edge)
