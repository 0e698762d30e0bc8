"""Audit log: every change, and every staff view of personal data."""
