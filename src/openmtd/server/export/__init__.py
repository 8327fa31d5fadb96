"""Alert export: the durable outbox (outbox.py), alert changes into it (alerts.py), the
delivery worker (delivery.py), the sinks' status and admin actions (service.py, views.py)."""
