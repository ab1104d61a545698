"""Recomputing the whole log from the database: `kaohe ledger verify`.

One pass over the entries in index order, CHUNK leaves at a time. Each chunk's leaves and
the perfect subtrees inside it are rebuilt level by level and compared with the stored
leaf_hash column and nodes; the chunk roots go into a TreeBuilder for the levels above.
Cheap checks run on every entry and flag indexes; the first flagged entry is then looked
at closely (`diagnose`) to say what happened to it. Finally every checkpoint's root is
compared with the recomputed root at its size and its signature is checked.
"""

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, connections

from kaohe.ledger import scan
from kaohe.ledger.checkpoints import checkpoint_problem
from kaohe.ledger.diagnosis import MISSING_LEAF, Problem, diagnose, is_canonical
from kaohe.ledger.keys import keys_on_disk, public_keys
from kaohe.ledger.models import Checkpoint, Entry, LogHead, Node
from kaohe.ledger.tree import size as tree_size
from kaohe.lib import clock, merkle

__all__ = ["Problem", "Report", "check_log", "is_canonical", "verify_log"]

CHUNK_LEVEL = 14
CHUNK = 1 << CHUNK_LEVEL
# The scheduler signs a checkpoint every 5 minutes when the log grew.
UNCOVERED_GRACE = dt.timedelta(minutes=30)


@dataclass
class Report:
    size: int
    root: bytes
    checkpoints: int  # how many checkpoints verified
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(deep: bool = False) -> list[Problem]:
    """Every problem found in the stored log; empty when it is intact."""
    return check_log(deep=deep).problems


def check_log(deep: bool = False) -> Report:
    """Recomputes the log. Bodies are parsed and checked for canonical form only where no
    checkpoint covers them yet, unless `deep`: a body under a checkpoint whose root and
    signature verify is byte for byte what was signed, and `append` writes canonical JSON.
    """
    # Checkpoints before the head: the log may grow meanwhile, so each one read is within it.
    checkpoints = list(Checkpoint.objects.order_by("tree_size", "pk"))
    head = LogHead.objects.filter(pk=1).values_list("log_id", "size").first()
    log_id, size = head or ("", 0)
    covered = max((cp.tree_size for cp in checkpoints if cp.tree_size <= size), default=0)
    wanted = {key for cp in checkpoints if 0 <= cp.tree_size <= size
              for key in merkle.subtrees(0, cp.tree_size)}  # fmt: skip
    wanted.update(merkle.subtrees(0, size))
    tree = _Pass(wanted, parse_from=0 if deep else covered)
    with _beside(scan.first_column_mismatch, log_id, size) as column_mismatch:
        for start in range(0, size, CHUNK):
            tree.chunk(start, min(start + CHUNK, size))
        if (mismatch := column_mismatch()) is not None:
            tree.flag(mismatch)
    lowest, now = _outside()
    if lowest is not None:
        tree.flag(lowest)
    problems = []
    if tree.first_bad is not None:
        problems.append(diagnose(tree.first_bad, now, log_id))
    problems += tree.node_problems[:1]
    root = merkle.fold([tree.computed[key] for key in merkle.subtrees(0, size)])
    keys, key_problems = _trusted_keys()
    bad = [_checkpoint(cp, size, tree.computed, keys) for cp in checkpoints]
    problems += [p for p in bad if p is not None] + key_problems
    problems += _uncovered(covered, size)
    verified = sum(p is None for p in bad)
    return Report(size=size, root=root, checkpoints=verified, problems=problems)


@contextlib.contextmanager
def _beside(query, *args):
    """Runs `query` on a second database connection while the caller goes on, when the
    data is visible there (not inside a transaction, not an in-memory SQLite database);
    else when the result is asked for. Yields the function that returns its result."""
    if connection.in_atomic_block or (
        connection.vendor == "sqlite" and connection.is_in_memory_db()
    ):
        yield lambda: query(*args)
        return

    def run():
        try:
            return query(*args)
        finally:
            connections.close_all()  # this thread's connections

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(run)
        yield future.result


def _outside() -> tuple[int | None, int]:
    """(the lowest index of an entry outside the log, or None; the log's size). Entries
    appended while the pass ran are inside: the head is read again until it holds still."""
    size = tree_size()
    while True:
        lowest = scan.lowest_outside(size)
        now = tree_size()
        if now == size:
            return lowest, size
        size = now


def _trusted_keys() -> tuple[dict[str, bytes], list[Problem]]:
    """The registered keys that match a key file on disk, and a problem for each that
    does not: a key added to the database alone could sign any history."""
    on_disk = keys_on_disk()
    trusted, problems = {}, []
    for kid, raw in public_keys().items():
        if on_disk.get(kid) == raw:
            trusted[kid] = raw
        else:
            message = (f"signing key {kid} is registered but matches no key file (current or "
                       f"retired); checkpoints signed by it are not trusted")  # fmt: skip
            problems.append(Problem("key", message))
    return trusted, problems


def _uncovered(covered: int, size: int) -> list[Problem]:
    """Entries older than UNCOVERED_GRACE with no checkpoint over them: checkpoints are made
    every few minutes, so their absence means they were never made or were deleted."""
    cutoff = clock.now() - UNCOVERED_GRACE
    stale = Entry.objects.filter(index__gte=covered, index__lt=size, at__lt=cutoff)
    first = stale.order_by("index").values_list("index", flat=True).first()
    if first is None:
        return []
    message = (f"entries from {first} on are older than {UNCOVERED_GRACE} and no checkpoint "
               f"covers them: checkpoints were not made, or were deleted")  # fmt: skip
    return [Problem("uncovered", message, index=first)]


def _checkpoint(cp: Checkpoint, size: int, computed: dict, keys: dict) -> Problem | None:
    if not 0 <= cp.tree_size <= size:
        return _bad(cp, f"covers {cp.tree_size} entries but the log has {size}")
    root = merkle.fold([computed[key] for key in merkle.subtrees(0, cp.tree_size)])
    if cp.root_hash != root.hex():
        return _bad(cp, f"root {cp.root_hash} does not match the entries (they give {root.hex()})")
    reason = checkpoint_problem(cp, keys)
    return _bad(cp, reason) if reason else None


def _bad(cp: Checkpoint, reason: str) -> Problem:
    message = f"checkpoint #{cp.pk} (size {cp.tree_size}): {reason}"
    return Problem("checkpoint", message, checkpoint=cp.pk)


class _Pass:
    """The state of one pass: the upper levels' builder, the subtree hashes checkpoints
    need, the lowest flagged entry and the bad stored nodes."""

    def __init__(self, wanted: set[merkle.Key], parse_from: int) -> None:
        self.parse_from = parse_from
        self.upper = merkle.TreeBuilder()  # its leaves are the chunk roots
        self.wanted_in: dict[int, list[merkle.Key]] = defaultdict(list)
        self.wanted_above = set()
        for level, index in wanted:
            if level <= CHUNK_LEVEL:
                self.wanted_in[(index << level) >> CHUNK_LEVEL].append((level, index))
            else:
                self.wanted_above.add((level, index))
        self.computed: dict[merkle.Key, bytes] = {}
        self.first_bad: int | None = None
        self.node_problems: list[Problem] = []

    def flag(self, index: int) -> None:
        if self.first_bad is None or index < self.first_bad:
            self.first_bad = index

    def chunk(self, start: int, end: int) -> None:
        rows = scan.entry_chunk(start, end)
        if len(rows) == end - start:
            bodies, leaf_column = [body for body, _ in rows], [bytes(h) for _, h in rows]
        else:
            bodies, leaf_column = self._rows(start, end)
        leaves = _leaf_hashes(bodies)
        if leaves != leaf_column:
            self.flag(start + _first_difference(leaves, leaf_column))
        if end > self.parse_from:
            self._parse(bodies, start)
        levels = self._levels(leaves, start)
        for level, index in self.wanted_in.get(start >> CHUNK_LEVEL, ()):
            self.computed[level, index] = levels[level][index - (start >> level)]
        if end - start == CHUNK:
            self._above(levels[CHUNK_LEVEL][0])

    def _rows(self, start: int, end: int) -> tuple[list[bytes | None], list[bytes]]:
        """The chunk read row by row: a gap flags the missing index and gets a stand-in."""
        bodies: list[bytes | None] = [None] * (end - start)
        hashes = [MISSING_LEAF] * (end - start)
        for index, body, leaf in scan.entry_rows(start, end):
            bodies[index - start], hashes[index - start] = body, leaf
        if None in bodies:
            self.flag(start + bodies.index(None))
        return bodies, hashes

    def _parse(self, bodies: list[bytes | None], start: int) -> None:
        for offset in range(max(self.parse_from - start, 0), len(bodies)):
            body = bodies[offset]
            if body is not None and not is_canonical(body):
                self.flag(start + offset)
                return

    def _levels(self, leaves: list[bytes], start: int) -> list[list[bytes]]:
        """The chunk's perfect subtrees level by level, each level compared with storage."""
        levels, level = [leaves], 0
        self._compare(0, start, leaves)
        while len(levels[-1]) > 1:
            levels.append(_parents(levels[-1]))
            level += 1
            self._compare(level, start >> level, levels[-1])
        return levels

    def _compare(self, level: int, first: int, computed: list[bytes]) -> None:
        if scan.node_hashes(level, first, first + len(computed)) == b"".join(computed):
            return
        rows = scan.node_rows(level, first, first + len(computed))
        offset = next(i for i, h in enumerate(computed) if rows.get(first + i) != h)
        if level == 0:
            self.flag(first + offset)
        else:
            self._node_problem(level, first + offset, rows.get(first + offset))

    def _above(self, chunk_root: bytes) -> None:
        """Feeds a chunk root to the upper builder; checks the nodes it completes."""
        completed = [((level + CHUNK_LEVEL, index), h) for (level, index), h in
                     self.upper.append(chunk_root)[1:]]  # fmt: skip
        if not completed:
            return
        wanted = [Node.key(level, index) for (level, index), _ in completed]
        stored = dict(Node.objects.filter(id__in=wanted).values_list("id", "hash"))
        for (level, index), h in completed:
            found = stored.get(Node.key(level, index))
            if found is None or bytes(found) != h:
                self._node_problem(level, index, found)
            if (level, index) in self.wanted_above:
                self.computed[level, index] = h

    def _node_problem(self, level: int, index: int, found) -> None:
        first, last = index << level, ((index + 1) << level) - 1
        state = "is missing" if found is None else "does not match the entries"
        message = f"stored tree node ({level}, {index}) over entries {first}..{last} {state}"
        self.node_problems.append(Problem("node", message, index=first))


_LEAF_CTX, _NODE_CTX = hashlib.sha256(b"\x00"), hashlib.sha256(b"\x01")


def _leaf_hashes(bodies: list[bytes | None]) -> list[bytes]:
    """merkle.leaf_hash of each body (MISSING_LEAF for a missing one), in one tight loop:
    this and `_parents` are where verification spends its time."""
    leaves, leaf = [], _LEAF_CTX.copy
    keep = leaves.append
    for body in bodies:
        if body is None:
            keep(MISSING_LEAF)
            continue
        c = leaf()
        c.update(body)
        keep(c.digest())
    return leaves


def _parents(level: list[bytes]) -> list[bytes]:
    """merkle.node_hash of each pair, left to right; a last odd one is left out."""
    parents, node = [], _NODE_CTX.copy
    keep, pairs = parents.append, iter(level)
    for left, right in zip(pairs, pairs, strict=False):
        c = node()
        c.update(left)
        c.update(right)
        keep(c.digest())
    return parents


def _first_difference(a: list[bytes], b: list[bytes]) -> int:
    shorter = min(len(a), len(b))
    return next((i for i in range(shorter) if a[i] != b[i]), shorter)
