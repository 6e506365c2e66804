"""Notifiers: Slack, email and webhook clients that deliver decided actions."""
