"""The tracker application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_config


class JSONProvider(DefaultJSONProvider):
    # Vietnamese stays readable (and shorter) in JSON; fields keep the order the schemas give.
    ensure_ascii = False
    sort_keys = False


class Tracker(Flask):
    """The app: every request is one unit of work (`tracker.unit_of_work`).

    The view's writes are committed once it has returned, before the response goes out, and
    rolled back when it raises, before the error handlers answer. Views never commit.
    """

    def dispatch_request(self) -> Any:
        from tracker.unit_of_work import unit_of_work

        with unit_of_work():
            return super().dispatch_request()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Tracker(__name__, instance_relative_config=False)
    app.config.from_mapping(load_config("testing" if test_config else None))
    if test_config:
        app.config.update(test_config)
    app.json = JSONProvider(app)
    if app.config["TRUSTED_PROXIES"]:
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    register_extensions(app)
    register_subscriptions()
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_security_headers(app)
    return app


def register_extensions(app: Flask) -> None:
    from tracker import models  # noqa: F401 - every table known to SQLAlchemy and Alembic
    from tracker.accounts import auth  # noqa: F401 - login loaders
    from tracker.api import api
    from tracker.database import configure_sqlite
    from tracker.extensions import db, limiter, login_manager, migrate
    from tracker.pages import init_pages

    db.init_app(app)
    configure_sqlite(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR", "migrations")))
    login_manager.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    init_pages(app)
    # Workers share the factory: every task runs in this app's context (workers/__init__.py).
    from workers import celery_init_app

    celery_init_app(app)


def register_subscriptions() -> None:
    from tracker.subscriptions import subscribe

    subscribe()


def register_blueprints(app: Flask) -> None:
    from tracker.api import api
    from tracker.catalogue.api import blp as catalogue_api
    from tracker.dossiers.api import blp as dossiers_api
    from tracker.dossiers.api import registrations_blp as registrations_api
    from tracker.feeds.api import blp as feeds_api
    from tracker.handovers.api import blp as handovers_api
    from tracker.health import blp as health
    from tracker.imports.api import blp as imports_api
    from tracker.notifications.api import blp as notifications_api
    from tracker.orders.api import blp as orders_api
    from tracker.pickups.api import blp as pickups_api
    from tracker.reports.api import blp as reports_api
    from tracker.status_out.api import blp as status_out_api
    from tracker.sweeps.api import blp as sweeps_api
    from tracker.tracking.api import blp as tracking_api

    for blueprint in (
        catalogue_api,
        dossiers_api,
        registrations_api,
        tracking_api,
        feeds_api,
        imports_api,
        sweeps_api,
        notifications_api,
        pickups_api,
        orders_api,
        reports_api,
        handovers_api,
        status_out_api,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(health)
    register_pages(app)


def register_pages(app: Flask) -> None:
    from tracker.accounts.views import bp as account_pages
    from tracker.catalogue.views import bp as catalogue_pages
    from tracker.dossiers.blueprint import bp as dossier_pages
    from tracker.handovers.views import bp as handover_pages
    from tracker.pickups.blueprint import bp as pickup_pages
    from tracker.reports.blueprint import bp as report_pages
    from tracker.status_out.views import bp as status_out_pages
    from tracker.tracking.views import bp as tracking_pages

    for blueprint in (
        tracking_pages,
        account_pages,
        dossier_pages,
        pickup_pages,
        handover_pages,
        report_pages,
        catalogue_pages,
        status_out_pages,
    ):
        app.register_blueprint(blueprint)


def register_error_handlers(app: Flask) -> None:
    from tracker.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from tracker.accounts.cli import user_cli
    from tracker.catalogue.cli import catalogue_cli
    from tracker.demo import demo_cli
    from tracker.feeds.cli import feed_cli
    from tracker.imports.cli import import_cli
    from tracker.reports.cli import report_cli

    for group in (user_cli, catalogue_cli, demo_cli, feed_cli, import_cli, report_cli):
        app.cli.add_command(group)


PRIVATE_PATHS = (
    "/api/v1/dossiers",
    "/api/v1/track",
    "/api/v1/reports",
    "/api/v1/pickups",
    "/api/v1/handovers",
    "/api/v1/orders",
    "/api/v1/changes",
    # A subscription's secret is in the answer that creates or rotates it.
    "/api/v1/subscriptions",
    "/api/v1/deliveries",
)
# Pages run no inline script or style and load nothing from another site. Swagger UI (served
# from the app too) needs inline script.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'"
)


def register_security_headers(app: Flask) -> None:
    production = app.config["ENV_NAME"] == "production"

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        docs = request.path.startswith("/api/docs")
        headers.setdefault("Content-Security-Policy", DOCS_POLICY if docs else PAGE_POLICY)
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith(PRIVATE_PATHS) or response.mimetype == "text/html":
            # Personal data (staff views, pages) and lookup answers must not sit in any cache.
            headers["Cache-Control"] = "no-store"
        return response
