"""Alerts: stories, routing, the outbox and its sinks (see docs/alerts.md)."""
