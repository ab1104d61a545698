from django.db import models


class IdempotentRequest(models.Model):
    """The first response to a POST sent with an `Idempotency-Key`, replayed on retries.

    `principal` says who sent it (a digest of the API key, or the session user), so two
    clients cannot see each other's responses by choosing the same key. A row whose
    `status` is null is still being answered.
    """

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotent_request_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_age_idx")]
