"""flask catalogue load FILE.csv"""

import click

catalogue_cli = click.Group("catalogue", help="Load and inspect the catalogue.")
