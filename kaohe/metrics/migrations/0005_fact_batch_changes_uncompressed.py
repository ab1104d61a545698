from django.db import migrations


def store_changes_as_they_are(apps, schema_editor):
    """A batch's changes are gzip already: PostgreSQL's own compression of them (pglz)
    cannot shrink them, yet it tried on every batch, some 3 ms of each 10,000-fact chunk."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE metrics_factbatch ALTER COLUMN changes SET STORAGE EXTERNAL"
        )


def compress_changes_again(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE metrics_factbatch ALTER COLUMN changes SET STORAGE EXTENDED"
        )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0004_actuals_derived_from_facts")]

    operations = [migrations.RunPython(store_changes_as_they_are, compress_changes_again)]
