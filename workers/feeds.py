"""Tasks: feeds."""
