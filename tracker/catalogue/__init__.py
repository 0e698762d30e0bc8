"""Catalogue: channels, offices, agencies, sectors and procedures, kept as data with history."""
