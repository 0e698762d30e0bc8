"""Dossiers: intake, codes, lifecycle events, corrections."""
