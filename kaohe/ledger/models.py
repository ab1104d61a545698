"""The evidence ledger's tables. Entries and tree nodes are written once and never changed.

The ledger knows subjects as plain identifiers (an employee number, a document id); who may
see an entry is decided where it is shown.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from kaohe.lib import merkle

# A node's primary key packs (level, index): level * NODE_LEVEL_FACTOR + index.
NODE_LEVEL_FACTOR = 1 << 56


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a written ledger row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be updated")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be deleted")

    _raw_delete = delete

    def bulk_create(
        self, objs, batch_size=None, ignore_conflicts=False, update_conflicts=False, **kwargs
    ):
        # An upsert (INSERT ... ON CONFLICT DO UPDATE) rewrites the rows it collides with.
        if update_conflicts:
            raise AppendOnlyError(f"{self.model.__name__} rows cannot be updated")
        return super().bulk_create(objs, batch_size, ignore_conflicts, **kwargs)


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows cannot be deleted")


class LogHead(models.Model):
    """The single ordering point: one row (pk=1) holding the log's id and its size."""

    log_id = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="loghead_singleton"),
            models.CheckConstraint(condition=models.Q(size__gte=0), name="loghead_size_nonneg"),
        ]


class RowidField(models.BigIntegerField):
    """A 64-bit integer primary key that SQLite keeps as the row id (`integer PRIMARY KEY`):
    rows are stored in key order, and a range of keys is read without a second index."""

    def db_type(self, connection):
        return "integer" if connection.vendor == "sqlite" else super().db_type(connection)


# What a searchable column of an entry is, computed by the database from the body: the
# body is what the leaf hash covers, so these cannot disagree with it, and the database
# refuses an UPDATE of them. A body's "at" is RFC 3339 UTC with milliseconds.
FROM_BODY = {
    "sqlite": {
        "kind": "json_extract({body}, '$.kind')",
        "employee_no": "coalesce(json_extract({body}, '$.subject.employee'), '')",
        "subject": "json_extract({body}, '$.subject')",
        "actor": "json_extract({body}, '$.actor')",
        # Django's SQLite form of a UTC datetime: "YYYY-MM-DD HH:MM:SS.ffffff".
        "at": "replace(substr(json_extract({body}, '$.at'), 1, 23), 'T', ' ') || '000'",
    },
    "postgresql": {
        "kind": "({body}::json ->> 'kind')",
        "employee_no": "coalesce({body}::json -> 'subject' ->> 'employee', '')",
        # json (not jsonb) keeps the value's text as the body has it: canonical JSON.
        "subject": "({body}::json -> 'subject')::text",
        "actor": "({body}::json ->> 'actor')",
        # Casting text to a time depends on settings, so it may not compute a column;
        # make_timestamp and AT TIME ZONE 'UTC' do not.
        "at": "(make_timestamp(substr({body}::json ->> 'at', 1, 4)::int, "
        "substr({body}::json ->> 'at', 6, 2)::int, substr({body}::json ->> 'at', 9, 2)::int, "
        "substr({body}::json ->> 'at', 12, 2)::int, substr({body}::json ->> 'at', 15, 2)::int, "
        "substr({body}::json ->> 'at', 18, 6)::float8) AT TIME ZONE 'UTC')",
    },
}
GENERATED_COLUMNS = tuple(FROM_BODY["sqlite"])


class FromBody(models.Expression):
    """The SQL computing the searchable column `part` of an entry from its body; the
    GeneratedField's output_field types it."""

    conditional = False

    def __init__(self, part: str) -> None:
        super().__init__()
        self.part = part

    def as_sql(self, compiler, connection):
        body = connection.ops.quote_name("body")
        return FROM_BODY[connection.vendor][self.part].format(body=body), []


def _from_body(part: str, field: models.Field) -> models.GeneratedField:
    return models.GeneratedField(
        expression=FromBody(part), output_field=field, db_persist=True,
        verbose_name=field.verbose_name,
    )  # fmt: skip


class Entry(AppendOnlyModel):
    """One leaf of the log. `body` is the canonical JSON (RFC 8785) the leaf hash covers;
    the other columns are computed from it by the database, for searching. The leaf hash
    itself is stored once, as the tree's level-0 node."""

    index = RowidField(primary_key=True)
    body = models.TextField()
    kind = _from_body("kind", models.CharField(_("kind"), max_length=64))
    employee_no = _from_body(
        "employee_no", models.CharField(_("employee number"), max_length=32, blank=True)
    )
    subject = _from_body("subject", models.CharField(_("subject"), max_length=500))
    actor = _from_body("actor", models.CharField(_("actor"), max_length=200))
    at = _from_body("at", models.DateTimeField(_("time")))

    class Meta:
        ordering = ["index"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [
            # The audit page: one employee's entries, newest first.
            models.Index(fields=["employee_no", "-index"], name="entry_employee_idx"),
            models.Index(fields=["kind", "-index"], name="entry_kind_idx"),
            models.Index(fields=["at"], name="entry_at_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.index} {self.kind}"

    @property
    def leaf_hash(self) -> bytes:
        """RFC 9162's leaf hash of the body (the tree stores it as node (0, index))."""
        return merkle.leaf_hash(self.body.encode())


class Node(AppendOnlyModel):
    """The hash of a complete subtree: leaves [index * 2**level, (index + 1) * 2**level).

    Level 0 holds the leaf hashes. Roots and proofs at any size are folds of O(log n) of
    these, fetched in one query.
    """

    id = RowidField(primary_key=True)
    hash = models.BinaryField(max_length=32)

    @staticmethod
    def key(level: int, index: int) -> int:
        return level * NODE_LEVEL_FACTOR + index


class SigningKey(models.Model):
    """A public key that has signed checkpoints. Retired keys stay, so old checkpoints verify.
    The private key lives only in the key file."""

    key_id = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=20, default="Ed25519")
    public_key = models.CharField(max_length=100)  # base64 of the 32 raw bytes
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key_id


class TimestampStatus(models.TextChoices):
    NONE = "none", _("not requested")
    PENDING = "pending", _("pending")
    STAMPED = "stamped", _("timestamped")
    FAILED = "failed", _("failed, will retry")


class Checkpoint(models.Model):
    """A signed tree head. `body` is the canonical JSON that `signature` covers.

    `previous` repeats the body's hash of the checkpoint made before it (empty for those
    made before checkpoints were chained); being unique, two checkpoints made at once cannot
    both follow the same one, so the chain never forks."""

    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    previous = models.CharField(max_length=64, blank=True, default="")
    body = models.TextField()
    signature = models.CharField(max_length=100)
    timestamp_status = models.CharField(
        max_length=10, choices=TimestampStatus.choices, default=TimestampStatus.NONE
    )
    timestamp_token = models.BinaryField(null=True, blank=True)
    timestamp_error = models.TextField(blank=True)
    timestamp_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-tree_size", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["previous"],
                condition=~models.Q(previous=""),
                name="checkpoint_previous_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["-tree_size"], name="checkpoint_size_idx"),
            # The retry sweep: checkpoints whose timestamp is still owed.
            models.Index(
                fields=["timestamp_status"],
                condition=models.Q(timestamp_status__in=["pending", "failed"]),
                name="checkpoint_tsa_owed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"
