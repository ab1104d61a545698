"""Checkpoints are chained: each names the hash of the one made before it. The column is
unique, so two checkpoints made at once cannot both follow the same one; on PostgreSQL the
checkpoint guard now also refuses changing it (it is part of what was signed)."""

from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION ledger_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (NEW.tree_size, NEW.root_hash, NEW.created_at, NEW.key_id,
            NEW.body, NEW.signature{previous})
        IS DISTINCT FROM (OLD.tree_size, OLD.root_hash, OLD.created_at, OLD.key_id,
            OLD.body, OLD.signature{old_previous}) THEN
        RAISE EXCEPTION 'ledger: a checkpoint can only gain its timestamp (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""


def guard_previous(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        sql = GUARD.format(previous=", NEW.previous", old_previous=", OLD.previous")
        schema_editor.execute(sql, params=None)


def unguard_previous(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD.format(previous="", old_previous=""), params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_log_head")]

    operations = [
        migrations.AddField(
            model_name="checkpoint",
            name="previous",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddConstraint(
            model_name="checkpoint",
            constraint=models.UniqueConstraint(
                condition=models.Q(("previous", ""), _negated=True),
                fields=("previous",),
                name="checkpoint_previous_unique",
            ),
        ),
        migrations.RunPython(guard_previous, unguard_previous, elidable=False),
    ]
