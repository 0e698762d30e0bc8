"""Entry point for the Celery command line: `celery -A workers.main worker|beat`."""

from tracker import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
