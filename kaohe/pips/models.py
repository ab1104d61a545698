"""An improvement plan and its tasks, each with a due date and a completion time."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from kaohe.org.models import Employee


class PlanStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class Plan(models.Model):
    employee = models.ForeignKey(Employee, models.PROTECT, related_name="plans")
    title = models.CharField(_("title"), max_length=200)
    starts_on = models.DateField(_("starts on"))
    due_on = models.DateField(_("due on"))
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_on"]
        indexes = [models.Index(fields=["status", "due_on"], name="pip_open_due_idx")]

    def __str__(self) -> str:
        return self.title


class Task(models.Model):
    plan = models.ForeignKey(Plan, models.CASCADE, related_name="tasks")
    title = models.CharField(_("title"), max_length=200)
    due_on = models.DateField(_("due on"))
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["done_at", "due_on"], name="pip_task_due_idx")]

    def __str__(self) -> str:
        return self.title
