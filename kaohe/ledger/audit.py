"""Recomputing the whole log from the database: `kaohe ledger verify`.

The entries are recomputed one chunk of 2**CHUNK_LEVEL at a time (`sweep`): each chunk's
leaves and the perfect subtrees inside it are rebuilt level by level from the bodies and
compared with the stored nodes (level 0 holds the leaf hashes). The other columns of an
entry are computed by the database from its body (`schema` checks that they still are).
A large log is split into runs of whole chunks recomputed by worker processes and this
one, each with its own database connection; the chunk roots then go into a TreeBuilder for
the levels above, whose stored nodes are compared too. Cheap checks flag indexes; the first
flagged entry is then looked at closely (`diagnose`) to say what happened to it. Finally
every checkpoint's root is compared with the recomputed root at its size and its signature
is checked.
"""

import concurrent.futures
import contextlib
import datetime as dt
import logging
import multiprocessing
import os
from dataclasses import dataclass, field

from django.db import connection

from kaohe.ledger import scan, schema, sweep, witness
from kaohe.ledger.checkpoints import checkpoint_problem, signed_value
from kaohe.ledger.diagnosis import Problem, diagnose
from kaohe.ledger.keys import key_files, registered_keys
from kaohe.ledger.models import Checkpoint, Entry, LogHead, Node
from kaohe.ledger.sweep import is_canonical
from kaohe.ledger.tree import size as tree_size
from kaohe.lib import clock, merkle

__all__ = ["Problem", "Report", "check_log", "is_canonical", "verify_log"]

CHUNK_LEVEL = sweep.CHUNK_LEVEL
# Below this many entries a pass takes less than starting a worker process does.
PARALLEL_FROM = 1 << 17
# Runs of chunks per process: short ones, so that when one runs out of runs to take, the
# others have little left of theirs.
TASKS_PER_JOB = 32
MAX_JOBS = 8  # each worker is a database connection, and reads compete for the same disk
logger = logging.getLogger(__name__)
# The scheduler signs a checkpoint every 5 minutes when the log grew.
UNCOVERED_GRACE = dt.timedelta(minutes=30)


@dataclass
class Report:
    size: int
    root: bytes
    checkpoints: int  # how many checkpoints verified
    problems: list[Problem] = field(default_factory=list)
    # The signer's copy of its latest checkpoint (kaohe.ledger.witness) as read before the
    # log: a checkpoint it names was committed, so the log read after holds it.
    witness_copy: witness.Copy | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(deep: bool = False, jobs: int | None = None) -> list[Problem]:
    """Every problem found in the stored log; empty when it is intact."""
    return check_log(deep=deep, jobs=jobs).problems


def check_log(deep: bool = False, jobs: int | None = None) -> Report:
    """Recomputes the log. Bodies are parsed and checked for canonical form only where no
    checkpoint covers them yet, unless `deep`: a body under a checkpoint whose root and
    signature verify is byte for byte what was signed, and `append` writes canonical JSON.

    `jobs` worker processes share a large log (default: one per CPU, at most MAX_JOBS,
    from PARALLEL_FROM entries on); 1 keeps the whole pass in this process, as does a log
    the workers could not see (one written inside the current transaction, or an
    in-memory database).
    """
    # The copy, then the checkpoints, then the head: the log may grow meanwhile, so each one
    # read is within what is read after it.
    kept = witness.read()
    checkpoints = list(Checkpoint.objects.order_by("tree_size", "pk"))
    head = LogHead.objects.filter(pk=1).values_list("log_id", "size").first()
    log_id, size = head or ("", 0)
    covered = max((cp.tree_size for cp in checkpoints if cp.tree_size <= size), default=0)
    wanted = {key for cp in checkpoints if 0 <= cp.tree_size <= size
              for key in merkle.subtrees(0, cp.tree_size)}  # fmt: skip
    wanted.update(merkle.subtrees(0, size))
    parse_from = 0 if deep else covered
    jobs = _jobs(jobs, size)
    outcomes = _recompute(_tasks(log_id, size, parse_from, wanted, jobs), jobs)
    computed = {key: h for outcome in outcomes for key, h in outcome.computed.items()}
    roots = [root for outcome in outcomes for root in outcome.chunk_roots]
    node_problems = [_node_problem(*o.bad_node) for o in outcomes if o.bad_node is not None]
    node_problems += _above(roots, wanted, computed)
    flagged = [o.first_bad for o in outcomes if o.first_bad is not None]
    lowest, now = _outside()
    plain = schema.plain_columns()
    disagreeing = schema.lowest_disagreeing(plain) if plain else None
    flagged += [index for index in (lowest, disagreeing) if index is not None]
    problems = []
    if flagged:
        problems.append(diagnose(min(flagged), now, log_id))
    problems += node_problems[:1] + _schema_problems(plain)
    root = merkle.fold([computed[key] for key in merkle.subtrees(0, size)])
    keys, key_problems = _trusted_keys()
    bad = [_checkpoint(cp, size, computed, keys) for cp in checkpoints]
    problems += [p for p in bad if p is not None] + key_problems
    problems += _other_log(checkpoints, log_id)
    problems += _uncovered(covered, size)
    verified = sum(p is None for p in bad)
    return Report(size=size, root=root, checkpoints=verified, problems=problems, witness_copy=kept)


def _jobs(jobs: int | None, size: int) -> int:
    if jobs is None:
        jobs = min(_cpus(), MAX_JOBS) if size >= PARALLEL_FROM else 1
    return max(1, jobs) if _visible_elsewhere() else 1


def _cpus() -> int:
    """The CPUs this process may run on (fewer than the machine has, in a container
    pinned to some)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _visible_elsewhere() -> bool:
    """Does another connection see the log this one sees? Not inside a transaction (its
    writes are not committed), nor in an in-memory SQLite database."""
    return not connection.in_atomic_block and not (
        connection.vendor == "sqlite" and connection.is_in_memory_db()
    )


def _tasks(log_id: str, size: int, parse_from: int, wanted: set, jobs: int) -> list[sweep.Task]:
    """Runs of whole chunks, about TASKS_PER_JOB for each job; each with the subtrees
    below the chunk level that it computes and the pass needs."""
    chunk = 1 << CHUNK_LEVEL
    chunks = -(-size // chunk)
    per_task = max(1, -(-chunks // (jobs * TASKS_PER_JOB))) if jobs > 1 else max(chunks, 1)
    tasks = []
    for first in range(0, chunks, per_task):
        start, end = first * chunk, min((first + per_task) * chunk, size)
        inside = tuple(sorted(key for key in wanted if _within(key, start, end)))
        tasks.append(sweep.Task(start, end, log_id, parse_from, inside, CHUNK_LEVEL))
    return tasks


def _within(key: merkle.Key, start: int, end: int) -> bool:
    level, index = key
    return level <= CHUNK_LEVEL and start <= index << level < end


def _recompute(tasks: list[sweep.Task], jobs: int) -> list[sweep.Outcome]:
    if jobs > 1 and len(tasks) > 1:
        try:
            return _in_workers(tasks, jobs)
        except Exception:  # a worker that cannot start or connect; this process can
            logger.warning("ledger verify: worker processes failed; going on in this one",
                           exc_info=True)  # fmt: skip
    reader = scan.reader()
    return [sweep.run(task, reader) for task in tasks]


def _in_workers(tasks: list[sweep.Task], jobs: int) -> list[sweep.Outcome]:
    """`jobs - 1` worker processes and this one take the tasks one at a time from a shared
    counter, so that this process works too (from before the workers have started) and
    none waits long for the others at the end."""
    # spawn: a fresh interpreter that imports only `sweep`, not a copy of this process
    # with its open connections and threads.
    context = multiprocessing.get_context("spawn")
    claimed, source, workers = context.Value("q", 0), _source(), min(jobs - 1, len(tasks))
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=sweep.start_worker, initargs=(source, claimed)
    ) as pool:
        futures = [pool.submit(sweep.work, tasks) for _ in range(workers)]
        with contextlib.closing(source.connect()) as db:
            done = sweep.drain(tasks, sweep.Reader(db, source), claimed)
        for future in futures:
            done += future.result()
    return [outcome for _, outcome in sorted(done, key=lambda pair: pair[0])]


# Django's own connection settings that psycopg.connect does not take.
_DJANGO_ONLY = {"context", "cursor_factory"}


def _source() -> sweep.Source:
    """How a worker process opens its own connection to this database."""
    if connection.vendor == "sqlite":
        params = {"database": str(connection.settings_dict["NAME"])}
    else:
        params = {key: value for key, value in connection.get_connection_params().items()
                  if key not in _DJANGO_ONLY and isinstance(value, str | int)}  # fmt: skip
    return sweep.Source(connection.vendor, params, **scan.tables())


def _above(roots: list[bytes], wanted: set, computed: dict) -> list[Problem]:
    """Builds the levels above the chunks from the chunk roots; compares the stored nodes
    they complete, and keeps the wanted subtree hashes among them."""
    upper, completed = merkle.TreeBuilder(), []
    for root in roots:
        completed += [((level + CHUNK_LEVEL, index), h)
                      for (level, index), h in upper.append(root)[1:]]  # fmt: skip
    stored = {}
    ids = [Node.key(level, index) for (level, index), _ in completed]
    for start in range(0, len(ids), 500):
        batch = Node.objects.filter(id__in=ids[start : start + 500])
        stored.update((pk, bytes(h)) for pk, h in batch.values_list("id", "hash"))
    problems = []
    for (level, index), h in completed:
        found = stored.get(Node.key(level, index))
        if found != h:
            problems.append(_node_problem(level, index, found is None))
        if (level, index) in wanted:
            computed[level, index] = h
    return problems


def _schema_problems(plain: list[str]) -> list[Problem]:
    if not plain:
        return []
    message = (f"the entries' {', '.join(plain)} columns are no longer computed by the "
               f"database from their bodies: the table's definition was changed")  # fmt: skip
    return [Problem("schema", message)]


def _node_problem(level: int, index: int, missing: bool) -> Problem:
    first, last = index << level, ((index + 1) << level) - 1
    state = "is missing" if missing else "does not match the entries"
    message = f"stored tree node ({level}, {index}) over entries {first}..{last} {state}"
    return Problem("node", message, index=first)


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
    on_disk, unreadable = key_files()
    trusted, problems = {}, [Problem("key", reason) for reason in unreadable]
    for kid, raw in registered_keys().items():
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


def _other_log(checkpoints: list[Checkpoint], log_id: str) -> list[Problem]:
    """Checkpoints that name another log than the head does: the head's log id was changed
    (every proof of an older entry then fails), or they were signed for another log."""
    other = [cp for cp in checkpoints if signed_value(cp, "log_id") not in (None, log_id)]
    if not other:
        return []
    first, head = other[0], log_id or "(none)"
    message = (f"{len(other)} checkpoint(s), from #{first.pk} (size {first.tree_size}) on, "
               f"name log {signed_value(first, 'log_id')} but the log head says {head}: "
               "the head's log id was changed, or they are checkpoints of another log")  # fmt: skip
    return [Problem("checkpoint", message, checkpoint=first.pk)]


def _bad(cp: Checkpoint, reason: str) -> Problem:
    message = f"checkpoint #{cp.pk} (size {cp.tree_size}): {reason}"
    return Problem("checkpoint", message, checkpoint=cp.pk)
