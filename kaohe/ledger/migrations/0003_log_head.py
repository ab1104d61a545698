"""The log head exists from the start, so that every append costs the same queries (the
first append of a database emptied later still creates it, race-free)."""

import uuid

from django.db import migrations


def create_head(apps, schema_editor):
    LogHead = apps.get_model("ledger", "LogHead")
    LogHead.objects.using(schema_editor.connection.alias).get_or_create(
        pk=1, defaults={"log_id": uuid.uuid4().hex, "size": 0}
    )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_postgresql_guards")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop, elidable=False)]
