"""Pickup requests: a citizen calls hotline 1022 to have the post collect a dossier at home."""
