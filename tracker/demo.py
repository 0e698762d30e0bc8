"""flask demo seed"""

import click

demo_cli = click.Group("demo", help="Sample data for a first look.")
