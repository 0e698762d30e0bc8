"""The baseline: the smallest Flask app answering JSON, served by the same gunicorn settings.

Whatever the tracker's endpoints cost above this is the price of the application itself
(routing through flask-smorest, the limiter, the database, marshmallow), not of gunicorn,
Werkzeug or the machine.
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/status")
def status():
    return jsonify(status="ok")
