"""`flask feed ...`"""

from __future__ import annotations

import click
from flask.cli import AppGroup

feed_cli = AppGroup("feed", help="Status feeds from the post and from agencies.")
del click
