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


# A static survey page with the same form fields and about the size of the app's
# (``GET /s/<id>``), so that a client walking it does the same work as on the app's pages:
# ``/bare/page?q=N`` shows question N; posting it redirects (303) to question N + 1; after
# the last one comes a thank-you page.
_QUESTIONS = ("nps", "reason", "resolved")
_FILLER = "<p class=hint>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 60 + "</p>"


def _survey_page(i: int) -> str:
    if i >= len(_QUESTIONS):
        return ("<!doctype html><html><body><main><div class=end-state><h1>Thank you!</h1></div>"
                f"{_FILLER[:1500]}</main></body></html>")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Support call</title></head><body><main>"
        f'<form class="survey-form" method="post" action="/bare/page?q={i}">'
        '<input id="csrf_token" name="csrf_token" type="hidden" value="'
        'ImNjODc2ZjEyMjI3Y2VjMGE2OGI2NmY0ZjRlYmQ5YWRhM2MwNTUyMTki.awPfow.9rK_7c0-lc7MwnVqIQAU6SgLYNM">'
        f'<input type="hidden" name="_step" value="{i}">'
        + ('<input type="hidden" name="_start" value="eyJuIjoiOEtqNEd1M05UN1Rla1Y2NiIsInYiOjMsInNlZWQiOjU1NDE0'
           'MDM3MywibG9jIjoiZW4ifQ.awPfow.E5vYH8f8IldJduQZcyV7Jk9uJ0c">' if i == 0 else "")
        + f'<input type="hidden" name="_q" value="{_QUESTIONS[i]}"><fieldset>'
        + "".join(f'<label><input type="radio" name="q_{_QUESTIONS[i]}" value="{n}"> {n}</label>' for n in range(11))
        + f"</fieldset><button type=submit>Next</button></form>{_FILLER}</main></body></html>"
    )


_PAGES = [_survey_page(i) for i in range(len(_QUESTIONS) + 1)]


@app.route("/bare/page", methods=["GET", "POST"])
def survey_page() -> Response:
    try:
        i = max(0, min(int(request.args.get("q", "0")), len(_QUESTIONS)))
    except ValueError:
        i = 0
    if request.method == "POST":
        request.form  # parse the answer like the app does  # noqa: B018
        return Response("", status=303, headers={"Location": f"/bare/page?q={i + 1}"})
    return Response(_PAGES[i], mimetype="text/html")


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
