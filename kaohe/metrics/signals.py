"""What other apps may listen to without the metrics app knowing them."""

from django.dispatch import Signal

# Sent after a fact batch committed, with `employee_ids`: the people whose actuals changed.
facts_changed = Signal()
