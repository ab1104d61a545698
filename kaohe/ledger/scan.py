"""Queries of `kaohe ledger verify` that need Django's connection; the pass over the
entries themselves is in `sweep`."""

from kaohe.ledger.models import Entry


def lowest_outside(size: int) -> int | None:
    """The lowest index of an entry outside 0 .. size - 1, if any."""
    rows = Entry.objects.filter(index__lt=0) | Entry.objects.filter(index__gte=size)
    return rows.order_by("index").values_list("index", flat=True).first()
