"""Liveness, readiness, and the Swagger UI assets served by the app itself."""

from __future__ import annotations

from flask import Blueprint, jsonify, send_from_directory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from swagger_ui_bundle import swagger_ui_path

from tracker.extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@blp.get("/api/docs/assets/<path:filename>")
def swagger_assets(filename: str):
    return send_from_directory(str(swagger_ui_path), filename)
