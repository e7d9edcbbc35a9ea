"""The baseline every benchmark is measured against: bare Flask endpoints that do no work.

Served by gunicorn with the same worker settings as the application in the same run, so
the ratio between the two is the cost of the platform itself.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/next" input="dtmf speech" '
    'numDigits="1" timeout="6"><Say voice="Polly.Joanna" language="en-US">How likely are you to '
    "recommend us?</Say></Gather><Redirect>/next?noinput=1</Redirect></Response>"
)
_PAGE = "<!doctype html><html><body><form method=post><button>0</button></form></body></html>"


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@app.route("/bare/html", methods=["GET", "POST"])
def html() -> Response:
    return Response(_PAGE, mimetype="text/html")


@app.route("/bare/twiml", methods=["GET", "POST"])
def twiml() -> Response:
    request.form  # parse the body like a real webhook would  # noqa: B018
    return Response(_TWIML, mimetype="text/xml")


@app.route("/bare/json", methods=["GET", "POST"])
def json_endpoint() -> Response:
    request.get_data()
    return jsonify(ok=True, messages=[{"text": "How likely are you to recommend us?"}])
