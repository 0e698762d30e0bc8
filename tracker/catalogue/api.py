"""Catalogue lists: published information, readable without signing in."""

from __future__ import annotations

from tracker.api import Blueprint
from tracker.catalogue import queries
from tracker.catalogue.schemas import (
    AgencyOut,
    ChannelOut,
    OfficeArgs,
    OfficeOut,
    ProcedureArgs,
    ProcedureOut,
    SectorOut,
)

blp = Blueprint(
    "catalogue",
    __name__,
    url_prefix="/api/v1",
    description="Channels, offices, agencies, sectors and procedures",
)

# Published information: no token needed (the document's global bearer does not apply).
PUBLIC = {"security": []}


@blp.route("/channels")
@blp.doc(**PUBLIC)
@blp.response(200, ChannelOut(many=True))
def channels():
    """Channels through which dossiers reach the post."""
    return queries.list_channels()


@blp.route("/offices")
@blp.doc(**PUBLIC)
@blp.arguments(OfficeArgs(), location="query")
@blp.response(200, OfficeOut(many=True))
def offices(args):
    """Receiving offices, with the channel each belongs to."""
    return queries.list_offices(args)


@blp.route("/agencies")
@blp.doc(**PUBLIC)
@blp.response(200, AgencyOut(many=True))
def agencies():
    """Agencies that resolve procedures (national-format codes)."""
    return queries.list_agencies()


@blp.route("/sectors")
@blp.doc(**PUBLIC)
@blp.response(200, SectorOut(many=True))
def sectors():
    """Sectors (lĩnh vực)."""
    return queries.list_sectors()


@blp.route("/procedures")
@blp.doc(**PUBLIC)
@blp.arguments(ProcedureArgs(), location="query")
@blp.response(200, ProcedureOut(many=True))
def procedures(args):
    """Procedures that may go through the post; search by code or name."""
    return queries.search_procedures(args)
