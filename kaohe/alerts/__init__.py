"""Warning rules, alerts, escalation and the sweep."""
