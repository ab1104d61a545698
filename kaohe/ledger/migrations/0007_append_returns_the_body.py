"""`ledger_append` also returns the body it wrote and its time as milliseconds since the
epoch: a timestamptz comes back in the session's time zone, which Django assumes is UTC,
so an append on a session whose TimeZone was changed returned a body that differed from
the stored one by the offset (the stored body was right). Now the caller keeps what was
stored, and the time needs no zone.
"""

import importlib

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_append(
    before_at text, at_to_index text, index_to_log_id text, after_log_id text,
    taken timestamptz,
    OUT entry_index bigint, OUT entry_at timestamptz, OUT entry_log_id text,
    OUT entry_body text, OUT entry_at_ms bigint
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    factor CONSTANT bigint := 72057594037927936;
    previous timestamptz;
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
    entry_at_ms := (extract(epoch FROM entry_at) * 1000)::bigint;
    entry_body := before_at
        || to_char(entry_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || at_to_index || entry_index || index_to_log_id || entry_log_id || after_log_id;
    INSERT INTO ledger_entry (index, body) VALUES (entry_index, entry_body);
    -- RFC 9162: the leaf is SHA-256(0x00 || entry); while the index at a level is odd, the
    -- node completes a perfect subtree with its stored left sibling: SHA-256(0x01 || l || r).
    h := sha256('\\x00'::bytea || convert_to(entry_body, 'UTF8'));
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

OLD_SIGNATURE = "ledger_append(text, text, text, text, timestamptz)"


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE};", params=None)
        schema_editor.execute(FUNCTION, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        previous = importlib.import_module(
            "kaohe.ledger.migrations.0006_postgresql_append_function"
        )
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE};", params=None)
        schema_editor.execute(previous.FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_postgresql_append_function")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
