"""Bulk imports of dossiers from CSV and XLSX files (e.g. an agency's list of results)."""
