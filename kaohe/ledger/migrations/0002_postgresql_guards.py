"""On PostgreSQL, triggers refuse what the models already refuse, also for raw SQL: changing
or deleting entries and nodes, deleting checkpoints or keys or changing what was signed,
and shrinking the log head. (SQLite has no such guard; `kaohe ledger verify` finds changes
on both.) TRUNCATE stays possible: Django's test runner empties tables with it.
"""

from django.db import migrations

FUNCTIONS = """
CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % is refused, the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION ledger_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (NEW.tree_size, NEW.root_hash, NEW.created_at, NEW.key_id,
            NEW.body, NEW.signature)
        IS DISTINCT FROM (OLD.tree_size, OLD.root_hash, OLD.created_at, OLD.key_id,
            OLD.body, OLD.signature) THEN
        RAISE EXCEPTION 'ledger: a checkpoint can only gain its timestamp (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION ledger_signingkey_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (NEW.key_id, NEW.algorithm, NEW.public_key, NEW.created_at)
        IS DISTINCT FROM (OLD.key_id, OLD.algorithm, OLD.public_key, OLD.created_at) THEN
        RAISE EXCEPTION 'ledger: a signing key can only be retired (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION ledger_loghead_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.log_id <> OLD.log_id OR NEW.size < OLD.size THEN
        RAISE EXCEPTION 'ledger: the log head only grows (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_node_append_only BEFORE UPDATE OR DELETE ON ledger_node
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse();
CREATE TRIGGER ledger_checkpoint_signed BEFORE UPDATE OR DELETE ON ledger_checkpoint
    FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_guard();
CREATE TRIGGER ledger_signingkey_kept BEFORE UPDATE OR DELETE ON ledger_signingkey
    FOR EACH ROW EXECUTE FUNCTION ledger_signingkey_guard();
CREATE TRIGGER ledger_loghead_grows BEFORE UPDATE OR DELETE ON ledger_loghead
    FOR EACH ROW EXECUTE FUNCTION ledger_loghead_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_node_append_only ON ledger_node;
DROP TRIGGER IF EXISTS ledger_checkpoint_signed ON ledger_checkpoint;
DROP TRIGGER IF EXISTS ledger_signingkey_kept ON ledger_signingkey;
DROP TRIGGER IF EXISTS ledger_loghead_grows ON ledger_loghead;
DROP FUNCTION IF EXISTS ledger_refuse();
DROP FUNCTION IF EXISTS ledger_checkpoint_guard();
DROP FUNCTION IF EXISTS ledger_signingkey_guard();
DROP FUNCTION IF EXISTS ledger_loghead_guard();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTIONS + TRIGGERS, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
