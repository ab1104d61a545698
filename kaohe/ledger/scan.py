"""Reading the log for verification with raw cursors: only the columns each check needs, in
index order, a chunk at a time."""

from django.db import connection

from kaohe.ledger.models import NODE_LEVEL_FACTOR, Entry, Node


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def entry_chunk(start: int, end: int) -> list[tuple[bytes, bytes]]:
    """(body as UTF-8, leaf_hash) of the entries start <= index < end, in index order. The
    indexes are unique, so as many rows as end - start means none is missing."""
    i, table = _q("index"), _q(Entry._meta.db_table)
    # SQLite hands a blob over as it is; psycopg reads text faster than hex-encoded bytea.
    body = "body" if connection.vendor == "postgresql" else "CAST(body AS BLOB)"
    sql = f"SELECT {body}, leaf_hash FROM {table} WHERE {i} >= %s AND {i} < %s ORDER BY {i}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])
        rows = cursor.fetchall()
    if connection.vendor == "postgresql":
        return [(body.encode(), leaf) for body, leaf in rows]
    return rows


def entry_rows(start: int, end: int) -> list[tuple[int, bytes, bytes]]:
    """(index, body as UTF-8, leaf_hash) of the entries start <= index < end, in order."""
    rows = (
        Entry.objects.filter(index__gte=start, index__lt=end)
        .order_by("index")
        .values_list("index", "body", "leaf_hash")
    )
    return [(index, body.encode(), bytes(leaf)) for index, body, leaf in rows]


def node_hashes(level: int, start: int, end: int) -> bytes:
    """The stored hashes of nodes (level, start) .. (level, end - 1), concatenated in one
    value (cheaper than a row each). A missing, extra-long or misordered one shows as a
    mismatch, after which the caller reads `node_rows`."""
    base, table = level * NODE_LEVEL_FACTOR, _q(Node._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT string_agg(hash, ''::bytea ORDER BY id) FROM {table} "  # noqa: S608
            "WHERE id >= %s AND id < %s"
        )
    else:  # group_concat copies blobs byte for byte; the CAST returns them as a blob
        sql = (
            f"SELECT CAST(group_concat(hash, '') AS BLOB) FROM "  # noqa: S608
            f"(SELECT hash FROM {table} WHERE id >= %s AND id < %s ORDER BY id)"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [base + start, base + end])
        return bytes(cursor.fetchone()[0] or b"")


def node_rows(level: int, start: int, end: int) -> dict[int, bytes]:
    """{index: hash} of the stored nodes of one level with start <= index < end."""
    base = level * NODE_LEVEL_FACTOR
    rows = Node.objects.filter(id__gte=base + start, id__lt=base + end).values_list("id", "hash")
    return {pk - base: bytes(h) for pk, h in rows}


def lowest_outside(size: int) -> int | None:
    """The lowest index of an entry outside 0 .. size - 1, if any."""
    rows = Entry.objects.filter(index__lt=0) | Entry.objects.filter(index__gte=size)
    return rows.order_by("index").values_list("index", flat=True).first()


def first_column_mismatch(log_id: str, size: int) -> int | None:
    """The lowest index below `size` whose columns (index, kind, actor, at, subject,
    employee_no) disagree with its body; one scan inside the database.

    A body is canonical JSON with sorted keys, so it starts with actor, at, index, kind,
    log_id and ends with subject and v: both ends can be rebuilt from the columns. A subject
    maps names to strings, so an unescaped `"employee":` in it can only be that key.
    """
    i = _q("index")
    if connection.vendor == "postgresql":
        quote, contains = "to_json({})::text", "strpos({}, {}) > 0"
        at = """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
        starts = "starts_with(body, {})"
        ends = "right(body, length(subject) + 18) = {}"
        index, log_param = f"{i}::text", "%s::text"
    else:
        quote, contains = "json_quote({})", "instr({}, {}) > 0"
        at = "strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', at)"
        starts = "instr(body, {}) = 1"
        ends = "substr(body, -(length(subject) + 18)) = {}"
        index, log_param = i, "%s"
    prefix = (
        f"""'{{"actor":' || {quote.format("actor")} || ',"at":"' || {at} """
        f"""|| '","index":' || {index} || ',"kind":' || {quote.format("kind")} """
        f"""|| ',"log_id":' || {quote.format(log_param)} || ',"payload":'"""
    )
    suffix = """',"subject":' || subject || ',"v":1}'"""
    key = """'"employee":'"""
    employee = f"{key} || {quote.format('employee_no')}"
    no_employee = f"(employee_no = '' AND NOT {contains.format('subject', key)})"
    with_employee = " OR ".join(
        contains.format("subject", f"{employee} || '{end}'") for end in (",", "}")
    )
    match = (
        f"{starts.format(prefix)} AND {ends.format(suffix)} AND ({no_employee} OR {with_employee})"
    )
    sql = (
        f"SELECT min({i}) FROM {_q(Entry._meta.db_table)} "  # noqa: S608
        f"WHERE {i} >= 0 AND {i} < %s AND NOT coalesce(({match}), false)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [size, log_id])
        return cursor.fetchone()[0]
