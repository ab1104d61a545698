"""Recomputing runs of whole chunks of the log: the heavy part of `kaohe ledger verify`,
done in the verifying process or split over worker processes.

Nothing here imports Django: a worker process starts in a fraction of the time Django's
setup takes, and reads through a plain DB-API connection of its own (`Source.connect`); in
the verifying process the same code reads through Django's connection, inside its
transaction.

A chunk is 2**chunk_level entries starting at a multiple of that (the last one may be
shorter). One
statement reads its bodies and leaf_hash column, each concatenated into one value (a row
each costs far more), and finds the lowest entry whose columns disagree with its body; one
more reads the stored nodes of each of its levels, concatenated. Anything that does not
match is read again row by row, so that the index or node named is exact.
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
    bodies, leaf_column, column_mismatch = reader.entries(start, end, task.log_id)
    if column_mismatch is not None:
        outcome.flag(column_mismatch)
    levels = _fast(reader, bodies, leaf_column, start, end)
    if levels is None:
        # A missing or extra row, a changed leaf_hash column or stored node, a body holding
        # the separator, or rows that came out of order: read the chunk row by row.
        bodies, levels = _careful(reader, start, end, outcome)
    if end > task.parse_from:
        _parse(bodies, start, task.parse_from, outcome)
    return levels


def _fast(reader: "Reader", bodies: list, leaf_column: bytes, start: int, end: int):
    """The chunk's levels when everything matches as read in bulk, else None."""
    if len(bodies) != end - start:
        return None
    leaves = merkle.leaf_hashes(bodies)
    if b"".join(leaves) != leaf_column:
        return None
    levels = _levels(leaves)
    stored = reader.node_levels(_spans(levels, start))
    if any(found != b"".join(hashes) for found, hashes in zip(stored, levels, strict=True)):
        return None
    return levels


def _careful(reader: "Reader", start: int, end: int, outcome: Outcome):
    """Bodies and levels read row by row: a missing entry is flagged and stands in as
    MISSING_LEAF, and so is the first whose leaf_hash column or stored leaf node does not
    match its body; the first stored inner node that does not match is kept."""
    bodies: list[bytes | None] = [None] * (end - start)
    column = [MISSING_LEAF] * (end - start)
    for index, body, leaf in reader.entry_rows(start, end):
        bodies[index - start], column[index - start] = body, leaf
    if None in bodies:
        outcome.flag(start + bodies.index(None))
    leaves = merkle.leaf_hashes(bodies, missing=MISSING_LEAF)
    if (offset := _first_difference(leaves, column)) is not None:
        outcome.flag(start + offset)
    levels = _levels(leaves)
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


def _parse(bodies: list, start: int, parse_from: int, outcome: Outcome) -> None:
    for offset in range(max(parse_from - start, 0), len(bodies)):
        body = bodies[offset]
        if body is not None and not is_canonical(body):
            outcome.flag(start + offset)
            return


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

    def entries(self, start: int, end: int, log_id: str) -> tuple[list[bytes], bytes, int | None]:
        """(the bodies, the leaf_hash column concatenated, the lowest index whose columns
        disagree with its body) of the entries start <= index < end, read in bulk. The
        indexes are unique, so end - start bodies means none is missing."""
        quoted = json.dumps(log_id)
        if self.sqlite:
            (row,) = self._all(_sqlite_entries(self.source), [quoted, start, end])
            count, joined, leaves, mismatch = row
            bodies = bytes(joined or b"").split(SEPARATOR) if count else []
            return bodies if count == len(bodies) else [], bytes(leaves or b""), mismatch
        # PostgreSQL: rows in binary are cheaper than aggregating bytea, and the columns are
        # compared in a statement of their own.
        rows = self._all(_pg_entry_rows(self.source), [start, end])
        (row,) = self._all(_pg_columns(self.source), [start, end, quoted])
        return [bytes(body) for body, _ in rows], b"".join(leaf for _, leaf in rows), row[0]

    def entry_rows(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        body = "CAST(body AS BLOB)" if self.sqlite else "convert_to(body, 'UTF8')"
        i, m = '"index"', self.mark
        sql = (
            f"SELECT {i}, {body}, leaf_hash FROM {self.source.entries} "  # noqa: S608
            f"WHERE {i} >= {m} AND {i} < {m} ORDER BY {i}"
        )
        return [(i, bytes(b), bytes(h)) for i, b, h in self._all(sql, [start, end])]

    def node_levels(self, spans: list[tuple[int, int, int]]) -> list[bytes]:
        """The stored hashes of each (level, first, count) span, concatenated in index
        order, in one statement. A missing, extra-long or misordered one shows as a
        mismatch, after which the caller reads `node_rows`."""
        one = (
            f"(SELECT CAST(group_concat(hash, '') AS BLOB) FROM (SELECT hash FROM "  # noqa: S608
            f"{self.source.nodes} WHERE id >= ? AND id < ? ORDER BY id))"
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


# A body is canonical JSON with sorted keys, so it starts with actor, at, index, kind,
# log_id and payload's key, and ends with subject and v: both ends can be rebuilt from the
# columns. A subject maps names to strings, so an unescaped `"employee":` in it can only be
# that key, and the closing quote of the value ends the match.
_SQLITE_MATCH = """
instr(body, '{"actor":' || json_quote(actor) || ',"at":"' || substr(at, 1, 10) || 'T'
    || substr(at || '.000000', 12, 12) || 'Z","index":' || "index" || ',"kind":'
    || json_quote(kind) || ',"log_id":' || ?1 || ',"payload":') = 1
AND substr(CAST(body AS BLOB), -(length(CAST(subject AS BLOB)) + 18))
    = CAST(',"subject":' || subject || ',"v":1}' AS BLOB)
AND (instr(subject, '"employee":' || json_quote(employee_no)) > 0
    OR employee_no = '' AND instr(subject, '"employee":') = 0)
"""


def _sqlite_entries(source: Source) -> str:
    # Django writes `at` as "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; bodies carry milliseconds.
    # The range uses the primary key's index, so rows come in index order; should they not,
    # the leaf hashes disagree and the chunk is read again row by row.
    return (
        "SELECT count(*), CAST(group_concat(CAST(body AS BLOB), X'FF') AS BLOB), "  # noqa: S608
        "CAST(group_concat(leaf_hash, '') AS BLOB), "
        f'min(CASE WHEN {_SQLITE_MATCH} THEN NULL ELSE "index" END) '
        f'FROM {source.entries} WHERE "index" >= ?2 AND "index" < ?3'
    )


_PG_MATCH = """
starts_with(body, '{"actor":' || to_json(actor)::text || ',"at":"'
    || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    || '","index":' || "index"::text || ',"kind":' || to_json(kind)::text
    || ',"log_id":' || %s::text || ',"payload":')
AND right(body, length(subject) + 18) = ',"subject":' || subject || ',"v":1}'
AND (strpos(subject, '"employee":' || to_json(employee_no)::text) > 0
    OR employee_no = '' AND strpos(subject, '"employee":') = 0)
"""


def _pg_entry_rows(source: Source) -> str:
    return (
        f"SELECT convert_to(body, 'UTF8'), leaf_hash FROM {source.entries} "  # noqa: S608
        'WHERE "index" >= %s AND "index" < %s ORDER BY "index"'
    )


def _pg_columns(source: Source) -> str:
    return (
        f'SELECT min("index") FROM {source.entries} '  # noqa: S608
        f'WHERE "index" >= %s AND "index" < %s AND NOT coalesce(({_PG_MATCH}), false)'
    )


# Worker processes: one connection each, opened by the pool's initializer.
_reader: Reader | None = None


def start_worker(source: Source) -> None:
    global _reader
    _reader = Reader(source.connect(), source)


def work(task: Task) -> Outcome:
    if _reader is None:
        raise RuntimeError("start_worker was not called in this process")
    return run(task, _reader)
