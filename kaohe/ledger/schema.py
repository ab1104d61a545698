"""The entry columns the database computes from the body (models.FROM_BODY): that they
still are, and, for any that is not, the first entry whose column disagrees with its body.

The database refuses to UPDATE a generated column, so `kaohe ledger verify` need not compare
them entry by entry; only someone who changes the table's definition (a plain column in
place of a generated one) can make one disagree, and that is what this looks for first.
"""

from django.db import DatabaseError, connection, transaction

from kaohe.ledger.models import FROM_BODY, GENERATED_COLUMNS, Entry

PROBE = "ledger_verify_probe"


def plain_columns() -> list[str]:
    """The generated columns whose definition in the database is not the model's."""
    if connection.vendor == "sqlite":
        return _plain_sqlite()
    return _plain_postgresql()


def _definitions() -> dict[str, str]:
    """Each generated column's definition as the migrations created it."""
    editor = connection.SchemaEditorClass(connection)
    q = connection.ops.quote_name
    definitions = {}
    for name in GENERATED_COLUMNS:
        sql, _ = editor.column_sql(Entry, Entry._meta.get_field(name), include_default=False)
        definitions[name] = f"{q(name)} {sql}"
    return definitions


def _plain_sqlite() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s",
            [Entry._meta.db_table],
        )
        row = cursor.fetchone()
    table = row[0] if row else ""
    return [name for name, definition in _definitions().items() if definition not in table]


_GENERATED = """
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a
JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attgenerated = 's' AND NOT a.attisdropped
"""


def _plain_postgresql() -> list[str]:
    """Compares the stored expressions with those of a temporary table made from the model,
    as PostgreSQL writes both back (not as the source text had them)."""
    columns = ", ".join(_definitions().values())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {PROBE} (body text, {columns})")
        cursor.execute(_GENERATED, [Entry._meta.db_table])
        found = dict(cursor.fetchall())
        cursor.execute(_GENERATED, [PROBE])
        expected = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {PROBE}")
    return [name for name in GENERATED_COLUMNS if found.get(name) != expected.get(name)]


def lowest_disagreeing(columns: list[str]) -> int | None:
    """The lowest index of an entry whose `columns` are not what their generated
    definition computes from its body."""
    q = connection.ops.quote_name
    same = "IS" if connection.vendor == "sqlite" else "IS NOT DISTINCT FROM"
    expression = FROM_BODY[connection.vendor]
    agree = " AND ".join(
        f"{q(name)} {same} {expression[name].format(body=q('body'))}" for name in columns
    )
    table = q(Entry._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'SELECT min("index") FROM {table} WHERE NOT ({agree})')  # noqa: S608
            return cursor.fetchone()[0]
    except DatabaseError:  # a body that is not JSON: the tree names that entry anyway
        return None
