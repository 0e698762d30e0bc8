"""Configuration: the only module that reads environment variables.

`load_config()` returns a plain dict for `app.config.from_mapping`. The environment picks the
profile (`TRACKER_ENV` = development | testing | production); every setting can be overridden by
the variable of the same name.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# Without SECRET_KEY, development and tests sign with a random key made once per installation
# and kept here (mode 600), so no two installations share a key. Production never uses it.
SECRET_KEY_FILE = INSTANCE_DIR / "secret_key"


class ConfigError(RuntimeError):
    """The configuration cannot run the service safely."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _limits(name: str, default: str) -> str:
    """A rate limit in the `limits` syntax ("5 per minute; 20 per hour"), checked at start."""
    from limits import parse_many

    value = os.environ.get(name) or default
    try:
        parse_many(value)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a rate limit such as '5 per minute': {value!r}") from exc
    return value


def _webhook_secret(name: str) -> str | None:
    """A Standard Webhooks secret, `whsec_<base64 of at least 24 bytes>` (tracker/webhooks.py)."""
    raw = os.environ.get(name) or None
    if raw is None:
        return None
    try:
        key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not raw.startswith("whsec_") or len(key) < 24:
        raise ConfigError(
            f"{name} must be whsec_ and at least 24 random bytes in base64 "
            "(README, Status feeds: how to make one)"
        )
    return raw


def _normalise_database_url(url: str) -> str:
    # Hosted PostgreSQL often hands out postgres:// URLs; SQLAlchemy wants a driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _check_production(secret_key: str | None, rate_limits_on: bool) -> None:
    """Production refuses to start on development defaults."""
    # Redis holds the rate-limit counts that every worker must share; unsigned feeds could be
    # forged or replayed by anyone holding a feed token.
    required = (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "FEED_POSTAL_SECRET",
        "FEED_AGENCY_SECRET",
    )
    missing = [name for name in required if not os.environ.get(name)]
    if missing:
        raise ConfigError(f"production needs {', '.join(missing)} set in the environment")
    if len(secret_key or "") < 32:
        raise ConfigError("SECRET_KEY must be a random value of at least 32 characters")
    if not rate_limits_on:
        raise ConfigError("RATELIMIT_ENABLED=0 is for development only")


def _development_key(env: str) -> str:
    if env == "testing":
        return secrets.token_urlsafe(48)  # a test process signs nothing that outlives it
    return _local_secret_key(Path(os.environ.get("SECRET_KEY_FILE") or SECRET_KEY_FILE))


def _local_secret_key(path: Path) -> str:
    """This installation's own development key: made at the first start, read after.

    Several processes start at once under `make run` (web, worker, beat): the first to create the
    file writes the key, the others read it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it this very moment
            key = path.read_text().strip()
            if len(key) >= 32:
                return key
            time.sleep(0.02)
        raise ConfigError(f"{path} holds no usable key: delete it to make a new one") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key


# The Celery queues: everything else, then the two kinds of delivery.
QUEUES = ("tracker", "notifications", "status_out")


def _celery_config(env: str, redis_url: str | None) -> dict:
    transport_options: dict = {
        # Longer than the longest task (a large import), or Redis hands it to a second worker.
        "visibility_timeout": _int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
    if redis_url:
        broker_url = redis_url
    elif env == "testing":
        broker_url = "memory://"
    else:
        broker_url = "filesystem://"
        broker_dir = Path(os.environ.get("BROKER_DIR") or INSTANCE_DIR / "broker")
        transport_options = {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "control_folder": str(broker_dir / "control"),
        }
    return {
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": "tracker",
        # Deliveries wait on the outside (an SMS gateway, the agencies' webhooks): they have
        # queues of their own, so that a worker applying a feed never waits on them
        # (`make worker` consumes `tracker`, `make worker-deliveries` the other two). A worker
        # started without -Q consumes every queue here (`make run`, the tests).
        "task_queues": [Queue(name) for name in QUEUES],
        "task_routes": {
            "notifications.*": {"queue": "notifications"},
            "status_out.*": {"queue": "status_out"},
        },
        # A task is acknowledged when it has finished; a worker killed mid-task leaves it to be
        # delivered again (tasks are idempotent).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        "broker_url": broker_url,
        "broker_transport_options": transport_options,
        "timezone": "Asia/Ho_Chi_Minh",
        "enable_utc": True,
        "beat_schedule_filename": os.environ.get(
            "BEAT_SCHEDULE_FILE", str(INSTANCE_DIR / "celerybeat-schedule")
        ),
        "worker_hijack_root_logger": False,
    }


def load_config(env: str | None = None) -> dict:
    env = env or os.environ.get("TRACKER_ENV", "development")
    if env not in {"development", "testing", "production"}:
        raise ConfigError(f"TRACKER_ENV must be development, testing or production, not {env!r}")

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        database_url = f"sqlite:///{INSTANCE_DIR / 'tracker.sqlite3'}"
    redis_url = os.environ.get("REDIS_URL") or None
    secret_key = os.environ.get("SECRET_KEY") or None

    rate_limits_on = os.environ.get("RATELIMIT_ENABLED", "1") != "0"
    if env == "production":
        _check_production(secret_key, rate_limits_on)

    return {
        "ENV_NAME": env,
        "TESTING": env == "testing",
        "SECRET_KEY": secret_key or _development_key(env),
        "SQLALCHEMY_DATABASE_URI": _normalise_database_url(database_url),
        # No ping before every checkout (a round trip per request): a connection the database
        # dropped fails once, is discarded by the pool, and the request answers 503 (errors.py).
        # In production an error's log line never carries the statement's values (a citizen's
        # name or phone): SQLAlchemy shows "[SQL parameters hidden due to hide_parameters=True]".
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1800, "hide_parameters": env == "production"},
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 30_000),
        "REDIS_URL": redis_url,
        # Rate limits (tracker/ratelimit.py; fixed windows, one Redis round trip per request; no
        # X-RateLimit-* headers, a 429 carries Retry-After). Storage is Redis when REDIS_URL is
        # set, so the limit holds across every gunicorn worker; in-process memory otherwise.
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_ENABLED": rate_limits_on,
        # Redis down: count in each worker's memory for a while rather than fail the lookup.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "TRACK_RATE_LIMIT": os.environ.get("TRACK_RATE_LIMIT", "20 per minute"),
        # Wrong phone digits per postal item number and Vietnam day, whoever asks: at 10, finding
        # one of the 10,000 endings takes 500 days on average (tracker/tracking/budget.py).
        "TRACK_ITEM_MISSES_PER_DAY": _int("TRACK_ITEM_MISSES_PER_DAY", 10),
        # Number of reverse proxies in front of the app whose X-Forwarded-For is trusted.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Argon2id cost; tests lower it so that creating users stays fast.
        "ARGON2_TIME_COST": _int("ARGON2_TIME_COST", 1 if env == "testing" else 3),
        "ARGON2_MEMORY_COST_KIB": _int(
            "ARGON2_MEMORY_COST_KIB", 8 * 1024 if env == "testing" else 64 * 1024
        ),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "TIMEZONE": "Asia/Ho_Chi_Minh",
        # OpenAPI (flask-smorest); Swagger UI is served from the app itself, no CDN.
        "API_TITLE": "tracker",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        # Workers (Celery). Without REDIS_URL the embedded default uses a broker kept in files
        # under instance/ (no server); tests without Redis publish into memory.
        "CELERY": _celery_config(env, redis_url),
        # The relay publishes again what is still not done this long after its last dispatch.
        "OUTBOX_RETRY_AFTER_SECONDS": _int("OUTBOX_RETRY_AFTER_SECONDS", 60),
        # How often beat runs that relay.
        "OUTBOX_RELAY_SECONDS": _int("OUTBOX_RELAY_SECONDS", 15),
        # A dossier with no event for this many working days is marked stuck by the hourly sweep
        # (working days: a week of Tết holidays must not mark every open dossier stuck).
        "STUCK_AFTER_DAYS": _int("STUCK_AFTER_DAYS", 10),
        # Reconciliation: a two-way result the agency finished this many working days ago and
        # the post has still not collected is listed as an anomaly.
        "UNCOLLECTED_RESULT_DAYS": _int("UNCOLLECTED_RESULT_DAYS", 3),
        # Reconciliation looks for new contradictions on the dossiers with an event recorded
        # within this many hours (runs missed for longer: `sweeps.reconcile` with full=true).
        "RECONCILE_LOOKBACK_HOURS": _int("RECONCILE_LOOKBACK_HOURS", 24),
        # Standard Webhooks secrets of the feeds (whsec_...); when set, a batch must be signed
        # (webhook-id, webhook-timestamp, webhook-signature). Required in production.
        "FEED_POSTAL_SECRET": _webhook_secret("FEED_POSTAL_SECRET"),
        "FEED_AGENCY_SECRET": _webhook_secret("FEED_AGENCY_SECRET"),
        # A signed message this many seconds older or newer than the server's clock is refused:
        # a replay after that is caught by its timestamp, before it by its webhook-id.
        "WEBHOOK_TOLERANCE_SECONDS": _int("WEBHOOK_TOLERANCE_SECONDS", 300),
        "FEED_MAX_EVENTS": _int("FEED_MAX_EVENTS", 10_000),
        "FEED_MAX_BYTES": _int("FEED_MAX_BYTES", 8 * 1024 * 1024),
        # "module:Class" of the notification gateway; the default records messages in the
        # notifications table and appends them to NOTIFICATION_LOG.
        "NOTIFICATION_GATEWAY": os.environ.get(
            "NOTIFICATION_GATEWAY", "tracker.notifications.gateways:RecordingGateway"
        ),
        "NOTIFICATION_LOG": os.environ.get(
            "NOTIFICATION_LOG", str(INSTANCE_DIR / "notifications.log")
        ),
        "NOTIFICATION_MAX_ATTEMPTS": _int("NOTIFICATION_MAX_ATTEMPTS", 6),
        # First retry after 1-2 minutes, doubling: the 6th attempt ends 31-62 minutes after the
        # first, by when a status message is stale anyway.
        "NOTIFICATION_RETRY_BASE_SECONDS": _int("NOTIFICATION_RETRY_BASE_SECONDS", 120),
        # Events older than this when recorded (a backlog, a late feed) are not announced.
        "NOTIFICATION_MAX_AGE_HOURS": _int("NOTIFICATION_MAX_AGE_HOURS", 48),
        # SMS without diacritics: one GSM-7 segment instead of two UCS-2 ones (half the price).
        "NOTIFICATION_SMS_UNACCENTED": os.environ.get("NOTIFICATION_SMS_UNACCENTED", "0") == "1",
        # Status out (tracker/status_out): each POST to an agency's receiver gives up after
        # STATUS_OUT_CONNECT_TIMEOUT_SECONDS to connect and STATUS_OUT_TIMEOUT_SECONDS in all; a
        # failed delivery is retried with backoff (base, doubling, jitter, capped at an hour) for
        # STATUS_OUT_RETRY_SECONDS (24 h), then `failed`. Beat looks for due retries every
        # STATUS_OUT_DISPATCH_SECONDS. Receivers must be https in production unless
        # STATUS_OUT_ALLOW_HTTP=1; http is allowed elsewhere (loopback receivers, tests).
        "STATUS_OUT_CONNECT_TIMEOUT_SECONDS": _int("STATUS_OUT_CONNECT_TIMEOUT_SECONDS", 3),
        "STATUS_OUT_TIMEOUT_SECONDS": _int("STATUS_OUT_TIMEOUT_SECONDS", 10),
        "STATUS_OUT_RETRY_SECONDS": _int("STATUS_OUT_RETRY_SECONDS", 24 * 3600),
        "STATUS_OUT_RETRY_BASE_SECONDS": _int("STATUS_OUT_RETRY_BASE_SECONDS", 10),
        "STATUS_OUT_DISPATCH_SECONDS": _int("STATUS_OUT_DISPATCH_SECONDS", 10),
        # POSTs in flight at once to one subscription (each for another dossier): the cap that
        # keeps one agency's receiver from being flooded, and one sender from waiting on each
        # answer in turn.
        "STATUS_OUT_CONCURRENCY": _int("STATUS_OUT_CONCURRENCY", 4),
        "STATUS_OUT_ALLOW_HTTP": os.environ.get(
            "STATUS_OUT_ALLOW_HTTP", "0" if env == "production" else "1"
        )
        == "1",
        # Demo only (never in production): a make-believe post and agency move open dossiers
        # along every few seconds through the feeds (tracker/simulation.py). `make run` sets it.
        "DEMO_SIMULATION": os.environ.get("DEMO_SIMULATION") == "1" and env != "production",
        "IMPORT_MAX_BYTES": _int("IMPORT_MAX_BYTES", 32 * 1024 * 1024),
        # Lines after the header, and columns of the header, of one import file. A province-year
        # of results (~1.1 M rows, bench/imports.py) fits; an upload of real rows meets
        # IMPORT_MAX_BYTES long before (~180,000 rows in 32 MiB).
        "IMPORT_MAX_ROWS": _int("IMPORT_MAX_ROWS", 1_500_000),
        "IMPORT_MAX_COLUMNS": _int("IMPORT_MAX_COLUMNS", 100),
        # An uploaded zip (XLSX) is judged by its directory before anything inflates it
        # (tracker/uploads.py). 100,000 rows of the import's 13 columns unpack to a sheet of ~50
        # MiB (Excel) or ~61 MiB (inline strings, as openpyxl writes) and ~25 MiB of strings.
        "UPLOAD_MAX_MEMBERS": _int("UPLOAD_MAX_MEMBERS", 1000),
        "UPLOAD_MAX_MEMBER_BYTES": _int("UPLOAD_MAX_MEMBER_BYTES", 64 * 1024 * 1024),
        "UPLOAD_MAX_UNCOMPRESSED_BYTES": _int("UPLOAD_MAX_UNCOMPRESSED_BYTES", 128 * 1024 * 1024),
        # Spreadsheet XML deflates 5-20 to 1; a part of over 1 MiB at 100 to 1 was built to inflate.
        "UPLOAD_MAX_RATIO": _int("UPLOAD_MAX_RATIO", 100),
        # Rows validated, inserted and committed together; the job's progress moves by this much.
        "IMPORT_CHUNK_ROWS": _int("IMPORT_CHUNK_ROWS", 5000),
        # A running import without a heartbeat for this long lost its worker: beat resumes it.
        "IMPORT_STALLED_AFTER_SECONDS": _int("IMPORT_STALLED_AFTER_SECONDS", 300),
        # Pages: staff sign in with a session cookie; every form carries a CSRF token.
        "SESSION_COOKIE_SECURE": env == "production",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A staff session (server-side, tracker/accounts/sessions.py) ends this long after
        # sign-in whatever happens, and after SESSION_IDLE_MINUTES without a request (a counter
        # left unattended). The cookie lives no longer than the session.
        "SESSION_HOURS": _int("SESSION_HOURS", 10),
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int("SESSION_HOURS", 10)),
        # CSRF is checked by tracker.pages for pages only: the API takes bearer tokens, no cookie.
        "WTF_CSRF_CHECK_DEFAULT": False,
        # A form left open at a counter stays valid as long as the session does.
        "WTF_CSRF_TIME_LIMIT": None,
        # Sign-in attempts (tracker/accounts/throttle.py), each a ladder of windows so the delay
        # grows: per (user name, client address); per client address; per user name from
        # addresses that never signed in as that user (the user's own places skip it, so
        # strangers cannot lock them out).
        "LOGIN_RATE_LIMIT": _limits(
            "LOGIN_RATE_LIMIT", "5 per minute; 10 per 15 minutes; 20 per hour; 40 per day"
        ),
        "LOGIN_IP_RATE_LIMIT": _limits(
            "LOGIN_IP_RATE_LIMIT", "30 per 15 minutes; 100 per hour; 300 per day"
        ),
        "LOGIN_NAME_RATE_LIMIT": _limits("LOGIN_NAME_RATE_LIMIT", "20 per hour; 50 per day"),
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        "LANGUAGES": ("vi", "en"),
    }
