"""`flask import ...`"""

from __future__ import annotations

import click
from flask.cli import AppGroup

import_cli = AppGroup("import", help="Bulk imports of dossiers.")
del click
