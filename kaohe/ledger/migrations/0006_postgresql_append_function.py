"""On PostgreSQL an append is one call of `ledger_append`: it raises the log head's size,
writes the entry and every tree node the entry's leaf completes, in one round trip instead
of two, with its statements' plans kept by PL/pgSQL. `kaohe.ledger.log` gives it the body's
frame (`body.frame`) and the time it took; the function fills in the time, index and log id.

A VOLATILE function takes a new snapshot for each statement in READ COMMITTED, so after
waiting for the head row's lock it sees the entries and nodes the previous appender
committed, as a second statement from the client did before. The time is raised to the
previous entry's when that appender took its time later but got the log first, so that
times never go back as indexes go up (on SQLite the time is taken under the lock).
"""

from django.db import migrations

# Node ids pack (level, index) as level * 2**56 + index (kaohe.ledger.models.NODE_LEVEL_FACTOR).
FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_append(
    before_at text, at_to_index text, index_to_log_id text, after_log_id text,
    taken timestamptz,
    OUT entry_index bigint, OUT entry_at timestamptz, OUT entry_log_id text
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    factor CONSTANT bigint := 72057594037927936;
    previous timestamptz;
    body text;
    h bytea;
    sibling bytea;
    i bigint;
    level bigint := 0;
BEGIN
    UPDATE ledger_loghead SET size = size + 1 WHERE id = 1
        RETURNING log_id, size - 1 INTO entry_log_id, entry_index;
    IF NOT FOUND THEN
        RETURN;  -- no head yet: the caller creates it and calls again
    END IF;
    entry_at := taken;
    SELECT e.at INTO previous FROM ledger_entry e WHERE e.index = entry_index - 1;
    IF previous > entry_at THEN
        entry_at := previous;
    END IF;
    body := before_at
        || to_char(entry_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || at_to_index || entry_index || index_to_log_id || entry_log_id || after_log_id;
    INSERT INTO ledger_entry (index, body) VALUES (entry_index, body);
    -- RFC 9162: the leaf is SHA-256(0x00 || entry); while the index at a level is odd, the
    -- node completes a perfect subtree with its stored left sibling: SHA-256(0x01 || l || r).
    h := sha256('\\x00'::bytea || convert_to(body, 'UTF8'));
    i := entry_index;
    INSERT INTO ledger_node (id, hash) VALUES (i, h);
    WHILE i & 1 = 1 LOOP
        SELECT n.hash INTO sibling FROM ledger_node n WHERE n.id = level * factor + i - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger node (%, %) is missing; run `kaohe ledger verify`',
                level, i - 1 USING ERRCODE = 'data_corrupted';
        END IF;
        h := sha256('\\x01'::bytea || sibling || h);
        level := level + 1;
        i := i >> 1;
        INSERT INTO ledger_node (id, hash) VALUES (level * factor + i, h);
    END LOOP;
END $$;
"""

DROP = "DROP FUNCTION IF EXISTS ledger_append(text, text, text, text, timestamptz);"


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_entry_columns_from_body")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
