"""Notifications: the in-app inbox, e-mail, group robots and outbound webhooks, with one
delivery log."""
