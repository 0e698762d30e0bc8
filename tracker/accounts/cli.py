"""flask user create / token / disable / enable / password

Each command writes in a unit of work of its own and prints only once it is committed: a
password or token shown is one that was stored, and a refused command leaves nothing written.
"""

from __future__ import annotations

import secrets
import sys

import click
from flask.cli import with_appcontext

from tracker.accounts import queries
from tracker.accounts.models import ROLES, SCOPES, User
from tracker.accounts.operations import create_user, issue_token, reset_password, set_user_active
from tracker.errors import DomainError
from tracker.unit_of_work import unit_of_work

user_cli = click.Group("user", help="Staff users and API tokens.")


@user_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--office", "office_code", help="office code (clerks and postmen)")
@click.option(
    "--agency", "agency_code", help="agency code (agency officers; optional for integrations)"
)
@click.option("--full-name", default="")
@with_appcontext
def create(
    username: str, role: str, office_code: str | None, agency_code: str | None, full_name: str
) -> None:
    """Create a user. The password is read from stdin, or generated and printed."""
    password = "" if sys.stdin.isatty() else sys.stdin.readline().strip()
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    with unit_of_work():
        try:
            create_user(
                username,
                role,
                password,
                full_name=full_name,
                office_code=office_code,
                agency_code=agency_code,
            )
        except DomainError as exc:
            message = f"{exc.message} ({', '.join(exc.fields) or 'input'})"
            raise click.ClickException(message) from exc
    click.echo(f"created {role} {username}")
    if generated:
        click.echo(f"password: {password}")


@user_cli.command("token")
@click.argument("username")
@click.option("--name", default="cli", help="what the token is for")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="what an integration account's token may push (repeat for several)",
)
@with_appcontext
def token(username: str, name: str, scopes: tuple[str, ...]) -> None:
    """Print a new API token for USERNAME (shown once, stored hashed)."""
    with unit_of_work():
        try:
            value = issue_token(_user(username), name=name, scopes=scopes)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(value)


def _user(username: str) -> User:
    user = queries.find_user_by_name(username)
    if user is None:
        raise click.ClickException(f"no user {username}")
    return user


@user_cli.command("disable")
@click.argument("username")
@with_appcontext
def disable(username: str) -> None:
    """Disable USERNAME: their sessions and tokens stop working at their next request."""
    with unit_of_work():
        set_user_active(_user(username), False)
    click.echo(f"disabled {username}")


@user_cli.command("enable")
@click.argument("username")
@with_appcontext
def enable(username: str) -> None:
    """Enable USERNAME again."""
    with unit_of_work():
        set_user_active(_user(username), True)
    click.echo(f"enabled {username}")


@user_cli.command("password")
@click.argument("username")
@with_appcontext
def password(username: str) -> None:
    """Set a new password for USERNAME (read from stdin, or generated and printed); every
    session signed in with the old one ends."""
    user = _user(username)
    new = "" if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    generated = not new
    if generated:
        new = secrets.token_urlsafe(12)
    with unit_of_work():
        try:
            reset_password(user, new)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"password of {username} changed")
    if generated:
        click.echo(f"password: {new}")
