"""Recomputing runs of whole chunks of the log: the heavy part of `kaohe ledger verify`,
done in the verifying process or split over worker processes.

Nothing here imports Django: a worker process starts in a fraction of the time Django's
setup takes, and reads through a plain DB-API connection of its own (`Source.connect`); in
the verifying process the same code reads through Django's connection, inside its
transaction.

A chunk is 2**chunk_level entries starting at a multiple of that (the last one may be
shorter). One statement reads its bodies, each behind the leaf prefix 0x00 so that it is
hashed as it comes, concatenated into one value (a row each costs far more); one more reads
the stored nodes of each of its levels (level 0: the leaf hashes), concatenated. Anything
that does not match is read again row by row, so that the index or node named is exact. An
entry's other columns are computed by the database from its body (see
`kaohe.ledger.schema`), so there is nothing else to compare.
"""

import json
import sqlite3
from dataclasses import dataclass, field
from urllib.parse import quote

from kaohe.lib import merkle
from kaohe.lib.canonical import CanonicalError, canonical

CHUNK_LEVEL = 14  # chunks of 16,384 entries: a few MB of bodies, a statement each
NODE_LEVEL_FACTOR = 1 << 56  # as in kaohe.ledger.models, which imports Django
MISSING_LEAF = bytes(32)  # stands in for an entry that is not there, so the pass goes on
# Never in UTF-8 text: joins bodies so that one split gives them back. A body holding it
# (written around the application) splits into too many parts and is read row by row.
SEPARATOR = b"\xff"
LEAF_PREFIX = b"\x00"  # RFC 9162: a leaf hash is SHA-256(0x00 || entry)
SQLITE_MMAP = 1 << 30


@dataclass(frozen=True)
class Source:
    """How a worker process reaches the database: its vendor, its connection parameters
    and the ledger's table names."""

    vendor: str  # "sqlite" or "postgresql"
    params: dict
    entries: str = "ledger_entry"
    nodes: str = "ledger_node"

    def connect(self):
        if self.vendor == "sqlite":
            path = quote(str(self.params["database"]))
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            db.execute(f"PRAGMA mmap_size = {SQLITE_MMAP}")  # reads without a copy each
            return db
        import psycopg

        return psycopg.connect(**self.params, autocommit=True)


@dataclass(frozen=True)
class Task:
    """Recompute entries [start, end) in chunks of 2**chunk_level: `start` is a multiple of
    the chunk size, and so is `end` unless it is the log's size."""

    start: int
    end: int
    log_id: str
    parse_from: int  # bodies from here on are checked for canonical form
    wanted: tuple[merkle.Key, ...] = ()  # subtree hashes to hand back (checkpoints need them)
    chunk_level: int = CHUNK_LEVEL


@dataclass
class Outcome:
    """What a task found: the root of each full chunk (for the levels above), the wanted
    subtree hashes, the lowest entry that does not check out, the first bad stored node."""

    chunk_roots: list[bytes] = field(default_factory=list)
    computed: dict[merkle.Key, bytes] = field(default_factory=dict)
    first_bad: int | None = None
    bad_node: tuple[int, int, bool] | None = None  # (level, index, whether it is missing)

    def flag(self, index: int) -> None:
        if self.first_bad is None or index < self.first_bad:
            self.first_bad = index


def is_canonical(body: bytes) -> bool:
    """Is `body` a JSON object written in RFC 8785 canonical form, as kaohe.lib.canonical
    writes it (no floats, integers within +/-(2**53 - 1))?"""
    try:
        document = json.loads(body, parse_float=_refuse, parse_int=_safe_int)
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    quick = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if quick.encode() == body and max(body, default=0) < 0xF0:
        # Equal to RFC 8785 here: floats are refused by `canonical`, and only characters
        # beyond U+FFFF (4-byte UTF-8) sort differently in UTF-16 than in code points.
        return True
    try:
        return canonical(document) == body
    except CanonicalError:
        return False


def _refuse(text: str):
    raise ValueError(f"{text} is not an integer")


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > 2**53 - 1:
        raise ValueError(f"{text} is too large")
    return value


def run(task: Task, reader: "Reader") -> Outcome:
    """Recomputes the task's chunks in order."""
    outcome = Outcome()
    wanted: dict[int, list[merkle.Key]] = {}
    for level, index in task.wanted:
        wanted.setdefault((index << level) >> task.chunk_level, []).append((level, index))
    size = 1 << task.chunk_level
    for start in range(task.start, task.end, size):
        end = min(start + size, task.end)
        levels = _chunk(reader, task, start, end, outcome)
        for level, index in wanted.get(start >> task.chunk_level, ()):
            outcome.computed[level, index] = levels[level][index - (start >> level)]
        if end - start == size:
            outcome.chunk_roots.append(levels[task.chunk_level][0])
    return outcome


def _chunk(reader: "Reader", task: Task, start: int, end: int, outcome: Outcome) -> list:
    leaves = reader.leaf_inputs(start, end)
    levels = _fast(reader, leaves, start, end)
    if levels is None:
        # A missing or extra row, a changed body or stored node, a body holding the
        # separator, or rows that came out of order: read the chunk row by row.
        bodies, levels = _careful(reader, start, end, outcome)
    elif end > task.parse_from:
        skip = max(task.parse_from - start, 0)
        bodies = [None] * skip + [leaf[1:] for leaf in leaves[skip:]]
    if end > task.parse_from:
        _parse(bodies, start, task, outcome)
    return levels


def _fast(reader: "Reader", leaves: list[bytes], start: int, end: int):
    """The chunk's levels when everything matches as read in bulk, else None. `leaves`
    are the entries' leaf inputs (0x00 || body)."""
    if len(leaves) != end - start:
        return None
    levels = _levels(merkle.digests(leaves))
    stored = reader.node_levels(_spans(levels, start))
    if any(found != b"".join(hashes) for found, hashes in zip(stored, levels, strict=True)):
        return None
    return levels


def _careful(reader: "Reader", start: int, end: int, outcome: Outcome):
    """Bodies and levels read row by row: a missing entry is flagged and stands in as
    MISSING_LEAF, and so is the first whose stored leaf node does not match its body; the
    first stored inner node that does not match is kept."""
    bodies: list[bytes | None] = [None] * (end - start)
    for index, body in reader.entry_rows(start, end):
        bodies[index - start] = body
    if None in bodies:
        outcome.flag(start + bodies.index(None))
    levels = _levels(merkle.leaf_hashes(bodies, missing=MISSING_LEAF))
    for level, first, count in _spans(levels, start):
        rows = reader.node_rows(level, first, first + count)
        offset = _first_difference(levels[level], [rows.get(first + i) for i in range(count)])
        if offset is None:
            continue
        if level == 0:
            outcome.flag(first + offset)
        elif outcome.bad_node is None:
            outcome.bad_node = (level, first + offset, first + offset not in rows)
    return bodies, levels


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The chunk's perfect subtrees level by level (a last odd one has no parent)."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        levels.append(merkle.parent_hashes(levels[-1]))
    return levels


def _spans(levels: list[list[bytes]], start: int) -> list[tuple[int, int, int]]:
    """(level, first index, count) of each level of the chunk starting at entry `start`."""
    return [(level, start >> level, len(hashes)) for level, hashes in enumerate(levels)]


def _first_difference(a: list, b: list) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), None)


def _parse(bodies: list, start: int, task: Task, outcome: Outcome) -> None:
    """Flags the first body from task.parse_from on that is not canonical JSON naming this
    log and its own index (no signed checkpoint vouches for those yet)."""
    for offset in range(max(task.parse_from - start, 0), len(bodies)):
        body = bodies[offset]
        if body is not None and not (
            is_canonical(body) and _names(body, task.log_id, start + offset)
        ):
            outcome.flag(start + offset)
            return


def _names(body: bytes, log_id: str, index: int) -> bool:
    document = json.loads(body)
    return document.get("log_id") == log_id and document.get("index") == index


class Reader:
    """The queries of a pass over one DB-API connection (sqlite3 or psycopg)."""

    def __init__(self, db, source: Source) -> None:
        self.db, self.source = db, source
        self.sqlite = source.vendor == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def _all(self, sql: str, params) -> list[tuple]:
        if self.sqlite:
            cursor = self.db.cursor()
            try:
                return cursor.execute(sql, params).fetchall()
            finally:
                cursor.close()
        import psycopg

        # Binary results: bytea as it is, not hex. Django's connection makes client-side
        # cursors, which cannot ask for them.
        with psycopg.Cursor(self.db) as cursor:
            return cursor.execute(sql, params, binary=True).fetchall()

    def leaf_inputs(self, start: int, end: int) -> list[bytes]:
        """What the leaf hashes of the entries start <= index < end cover (0x00 || body,
        RFC 9162), read in bulk; empty when their number is not end - start (the indexes
        are unique, so then one is missing)."""
        if self.sqlite:
            (row,) = self._all(_sqlite_entries(self.source), [start, end])
            count, joined = row
            leaves = bytes(joined or b"").split(SEPARATOR) if count else []
            if leaves:  # the others follow a separator and the prefix
                leaves[0] = LEAF_PREFIX + leaves[0]
            return leaves if count == len(leaves) else []
        # PostgreSQL: rows in binary are cheaper than aggregating bytea.
        return [leaf for (leaf,) in self._all(_pg_entry_rows(self.source), [start, end])]

    def entry_rows(self, start: int, end: int) -> list[tuple[int, bytes]]:
        body = "CAST(body AS BLOB)" if self.sqlite else "convert_to(body, 'UTF8')"
        i, m = '"index"', self.mark
        sql = (
            f"SELECT {i}, {body} FROM {self.source.entries} "  # noqa: S608
            f"WHERE {i} >= {m} AND {i} < {m} ORDER BY {i}"
        )
        return [(i, bytes(b)) for i, b in self._all(sql, [start, end])]

    def node_levels(self, spans: list[tuple[int, int, int]]) -> list[bytes]:
        """The stored hashes of each (level, first, count) span, concatenated in index
        order, in one statement. A missing, extra-long or misordered one shows as a
        mismatch, after which the caller reads `node_rows`."""
        # SQLite: the id is the row id, so a range of it is read in id order (should it
        # not be, the hashes disagree and the caller reads them row by row).
        one = (
            f"(SELECT CAST(group_concat(hash, '') AS BLOB) FROM {self.source.nodes} "  # noqa: S608
            "WHERE id >= ? AND id < ?)"
            if self.sqlite
            else f"(SELECT string_agg(hash, ''::bytea ORDER BY id) FROM {self.source.nodes} "  # noqa: S608
            "WHERE id >= %s AND id < %s)"
        )
        params = []
        for level, first, count in spans:
            base = level * NODE_LEVEL_FACTOR + first
            params += [base, base + count]
        (row,) = self._all(f"SELECT {', '.join([one] * len(spans))}", params)
        return [bytes(value or b"") for value in row]

    def node_rows(self, level: int, start: int, end: int) -> dict[int, bytes]:
        """{index: hash} of the stored nodes of one level with start <= index < end."""
        base, m = level * NODE_LEVEL_FACTOR, self.mark
        sql = f"SELECT id, hash FROM {self.source.nodes} WHERE id >= {m} AND id < {m}"  # noqa: S608
        return {pk - base: bytes(h) for pk, h in self._all(sql, [base + start, base + end])}


def _sqlite_entries(source: Source) -> str:
    # The range is one of row ids (the index is the table's integer primary key), so rows
    # come in index order; should they not, the leaf hashes disagree with the stored ones
    # and the chunk is read again row by row.
    return (
        # group_concat joins the bodies' UTF-8 as stored, each after the separator and the
        # leaf prefix (but the first: prefixing the whole in SQL would copy it again); the
        # CAST makes the whole bytes.
        "SELECT count(*), CAST(group_concat(body, X'FF00') AS BLOB) "  # noqa: S608
        f'FROM {source.entries} WHERE "index" >= ? AND "index" < ?'
    )


def _pg_entry_rows(source: Source) -> str:
    return (
        f"SELECT '\\x00'::bytea || convert_to(body, 'UTF8') FROM {source.entries} "  # noqa: S608
        'WHERE "index" >= %s AND "index" < %s ORDER BY "index"'
    )


def drain(tasks: list[Task], reader: Reader, claimed) -> list[tuple[int, Outcome]]:
    """Runs tasks one at a time, each claimed from the counter `claimed` (a
    multiprocessing.Value shared by the processes of a pass), until none is left; returns
    them numbered. So every process finishes within one task of the others."""
    done = []
    while (number := _claim(claimed)) < len(tasks):
        done.append((number, run(tasks[number], reader)))
    return done


def _claim(claimed) -> int:
    with claimed.get_lock():
        number = claimed.value
        claimed.value += 1
    return number


# Worker processes: one connection each, opened by the pool's initializer.
_reader: Reader | None = None
_claimed = None


def start_worker(source: Source, claimed=None) -> None:
    global _reader, _claimed
    _reader, _claimed = Reader(source.connect(), source), claimed


def work(tasks: list[Task]) -> list[tuple[int, Outcome]]:
    """In a worker: `drain` with the pool's counter."""
    if _reader is None or _claimed is None:
        raise RuntimeError("start_worker was not called in this process")
    return drain(tasks, _reader, _claimed)
