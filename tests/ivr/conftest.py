"""Fixtures for the IVR channel: the app with Twilio configured (signatures checked, a fake
HTTP client behind the real twilio REST client), the phone-all-types test survey loaded,
and a call simulator that plays Twilio's side of calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.callsim import CallSim, FlaskTransport
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioHttp

HERE = Path(__file__).parent
SURVEYS = HERE / "surveys"
OUR_NUMBER = "+15550001111"
SUPPORT_EN = "+15551230000"
SUPPORT_ZH = "+15551230088"
ALL_TYPES = "+15551239999"


@dataclass
class Ivr:
    app: Any
    client: Any
    sim: CallSim
    http: FakeTwilioHttp
    api_key: str

    def responses(self, survey: str, **params: Any) -> list[dict[str, Any]]:
        """The survey's responses through the public API, every page."""
        out: list[dict[str, Any]] = []
        query = {"limit": 1000, **params}
        while True:
            resp = self.client.get(
                f"/api/v1/surveys/{survey}/responses",
                query_string=query,
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
            assert resp.status_code == 200, resp.data
            body = resp.get_json()
            out.extend(body["responses"])
            if not body.get("next_cursor"):
                return out
            query["cursor"] = body["next_cursor"]

    def response(self, survey: str, call_sid: str) -> dict[str, Any]:
        found = [r for r in self.responses(survey, channel="ivr") if (r.get("meta") or {}).get("call_sid") == call_sid]
        assert len(found) == 1, f"{len(found)} responses for call {call_sid}"
        return found[0]

    def answers(self, survey: str, call_sid: str) -> dict[str, Any]:
        return {k: v["value"] for k, v in self.response(survey, call_sid)["answers"].items()}

    def ctx(self) -> Any:
        return self.app.app_context()


def configure(app: Any) -> FakeTwilioHttp:
    app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER=OUR_NUMBER,
    )
    http = FakeTwilioHttp()
    app.extensions["twilio_http_client"] = http
    from feedback.store import operations as ops

    with app.app_context():
        report = ops.load_surveys([SURVEYS])
        assert not report.problems, report.problems
    return http


def make_ivr(app: Any, **sim_options: Any) -> Ivr:
    http = configure(app)
    from feedback.store import operations as ops

    with app.app_context():
        key = ops.create_api_key("ivr tests")
    client = app.test_client()
    return Ivr(app, client, CallSim(FlaskTransport(client), **sim_options), http, key)


@pytest.fixture
def ivr(app: Any) -> Ivr:
    return make_ivr(app)


@pytest.fixture
def sqlite_ivr(sqlite_app: Any) -> Ivr:
    return make_ivr(sqlite_app)
