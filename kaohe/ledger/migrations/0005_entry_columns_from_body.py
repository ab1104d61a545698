"""Entries keep only their index and body; kind, employee number, subject, actor and time
become columns the database computes from the body (they can no longer disagree with it,
nor be updated), and the leaf hash is kept once, as the tree's level-0 node. On SQLite the
entry index and node id become the row id. Existing logs stay valid: the bodies, the tree
and the checkpoints are untouched, and the columns are recomputed from the bodies. On SQLite
each step makes the table again (about 40 s per million entries in all). Going back is for
empty logs only: the old columns have no defaults to fill existing rows with."""

from django.db import migrations, models

import kaohe.ledger.models
from kaohe.ledger.models import FromBody

SEARCHED = {
    "entry_employee_idx": ["employee_no", "-index"],
    "entry_kind_idx": ["kind", "-index"],
    "entry_at_idx": ["at"],
}
GENERATED = {
    "kind": models.CharField(max_length=64, verbose_name="kind"),
    "employee_no": models.CharField(blank=True, max_length=32, verbose_name="employee number"),
    "subject": models.CharField(max_length=500, verbose_name="subject"),
    "actor": models.CharField(max_length=200, verbose_name="actor"),
    "at": models.DateTimeField(verbose_name="time"),
}


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_checkpoint_previous")]

    operations = [
        *[migrations.RemoveIndex(model_name="entry", name=name) for name in SEARCHED],
        *[
            migrations.RemoveField(model_name="entry", name=name)
            for name in [*GENERATED, "leaf_hash"]
        ],
        migrations.AlterField(
            model_name="entry",
            name="index",
            field=kaohe.ledger.models.RowidField(primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name="node",
            name="id",
            field=kaohe.ledger.models.RowidField(primary_key=True, serialize=False),
        ),
        *[
            migrations.AddField(
                model_name="entry",
                name=name,
                field=models.GeneratedField(
                    db_persist=True,
                    expression=FromBody(name),
                    output_field=field,
                    verbose_name=field.verbose_name,
                ),
            )
            for name, field in GENERATED.items()
        ],
        *[
            migrations.AddIndex(model_name="entry", index=models.Index(fields=fields, name=name))
            for name, fields in SEARCHED.items()
        ],
    ]
