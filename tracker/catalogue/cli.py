"""flask catalogue load FILE.csv / flask catalogue load-demo"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from tracker.catalogue.loading import LoadReport
from tracker.catalogue.operations import CSV_LOADERS, load_demo_catalogue
from tracker.errors import DomainError
from tracker.unit_of_work import discard, unit_of_work

catalogue_cli = click.Group("catalogue", help="Load and inspect the catalogue.")


@catalogue_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(list(CSV_LOADERS)),
    default="procedures",
    show_default=True,
    help="What the file holds.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and report; save nothing.")
@with_appcontext
def load(path: Path, kind: str, dry_run: bool) -> None:
    """Load procedures, communes or service areas from a CSV file into the catalogue (insert or
    update: procedures and communes by code, service areas by commune and active_from).

    UTF-8 (with or without BOM), comma or semicolon separated, header on line 1. Procedures:
    code, name, sector, agency, working_days, service_forms (e.g. two_way|return_only); optional
    fee_vnd, agency_name (creates an unknown agency) and documents (the checklist, see
    tracker/catalogue/documents.py). Communes: code, name, province; service areas: commune,
    office; both with optional active_from, active_to. Valid rows are saved even when others are
    bad; each bad row is listed with its line number and the command exits with status 1.
    """
    with unit_of_work():
        report = CSV_LOADERS[kind](path)
        if dry_run:
            discard()  # checked, nothing saved
    echo_report(report, verb="would load" if dry_run else "loaded")


@catalogue_cli.command("load-demo")
@with_appcontext
def load_demo() -> None:
    """Load the SAMPLE Đồng Nai catalogue shipped with the code (not official data)."""
    try:
        with unit_of_work():
            counts, report = load_demo_catalogue()
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        "SAMPLE catalogue for Đồng Nai (demonstration data, not official): "
        + ", ".join(f"{count} {kind}" for kind, count in counts.items())
    )
    echo_report(report)


def echo_report(report: LoadReport, *, verb: str = "loaded") -> None:
    """Print a load report; exit with status 1 when a row was refused."""
    kind = report.kind.replace("_", " ")
    click.echo(f"{verb} {report.loaded} {kind} ({report.created} new, {report.updated} updated)")
    if report.ignored_columns:
        click.echo(f"ignored column(s): {', '.join(report.ignored_columns)}")
    for error in report.errors:
        click.echo(str(error), err=True)
    if report.errors:
        lines = len({error.line for error in report.errors})
        click.echo(f"{lines} line(s) not loaded, see above", err=True)
        click.get_current_context().exit(1)
