"""Liveness, readiness, and the Swagger UI assets served by the app itself."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify, send_from_directory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from swagger_ui_bundle import swagger_ui_path

from tracker.extensions import db
from tracker.unit_of_work import discard

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """Ready when the database answers. Redis down is "degraded", not unready: rate limits then
    count per worker and everything still answers, so a load balancer should keep sending."""
    if not _database_ok():
        return jsonify(status="unavailable", database="unreachable"), 503
    body = {"status": "ok", "database": "ok"}
    if current_app.config["REDIS_URL"] and not _redis_ok(current_app.config["REDIS_URL"]):
        body.update(status="degraded", redis="unreachable")
    elif current_app.config["REDIS_URL"]:
        body["redis"] = "ok"
    return jsonify(body)


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        discard()  # the failed statement's transaction: the next request starts clean
        return False
    return True


def _redis_ok(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@blp.get("/api/docs/assets/<path:filename>")
def swagger_assets(filename: str):
    return send_from_directory(str(swagger_ui_path), filename)
