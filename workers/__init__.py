"""Celery workers (status feeds, sweeps, notifications, imports) arrive with the workers issue.

Nothing runs here yet: the registry itself needs no worker.
"""
