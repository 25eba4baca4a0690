"""Alarm notifications: MQTT, webhook, e-mail, escalation; one queue per notifier."""
