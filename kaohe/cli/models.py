"""The scheduler's lease: which scheduler process is the leader (DESIGN.md "Running and
scaling": one scheduler leader elected by a database lock)."""

from django.db import models


class SchedulerLease(models.Model):
    """One row per lease: taken or renewed with a conditional UPDATE by its holder, taken
    over by another process once it expires (see kaohe.cli.schedule.Lease)."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.holder} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
