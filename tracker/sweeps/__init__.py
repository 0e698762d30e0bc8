"""Periodic checks over all dossiers: overdue and stuck marking, feed reconciliation."""
