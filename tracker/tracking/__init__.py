"""Public lookup of a dossier by the citizen, with the code and secret from the receipt."""
