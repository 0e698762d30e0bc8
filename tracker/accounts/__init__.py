"""Accounts: staff users, roles, API tokens, sign-in."""
