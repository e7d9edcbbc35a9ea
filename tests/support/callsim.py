"""A phone call as Twilio makes it, for tests and benchmarks.

:class:`CallSim` plays Twilio's side of a survey call against the app: it posts the
Voice webhook with the parameters Twilio sends, signs every request with the real
``RequestValidator``, checks every TwiML document it gets back against what Twilio
accepts (:func:`check_twiml`), and executes it: ``<Say>`` is heard, ``<Gather>`` waits
for the caller (keys, speech with a confidence, or silence, after which the next verb
runs), ``<Record>`` waits for a recording, ``<Redirect>`` is followed, ``<Hangup>`` (or
the end of the document) ends the call, after which the status callback is sent. The
caller can hang up at any moment.

Transports: :class:`FlaskTransport` (a Flask test client, optionally behind a simulated
TLS-terminating proxy) and :class:`HttpTransport` (a real HTTP connection, for the
benchmark).
"""

from __future__ import annotations

import http.client
import itertools
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"

# -- what Twilio accepts -------------------------------------------------------------------------

#: Verbs a survey may use, and the attributes Twilio documents for each.
VERB_ATTRIBUTES: dict[str, set[str]] = {
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Gather": {
        "action", "method", "timeout", "finishOnKey", "numDigits", "input", "language", "hints",
        "speechTimeout", "speechModel", "profanityFilter", "actionOnEmptyResult",
        "partialResultCallback", "partialResultCallbackMethod", "enhanced", "bargeIn", "debug",
        "maxSpeechTime",
    },
    "Record": {
        "action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim",
        "recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent",
        "transcribe", "transcribeCallback",
    },
    "Redirect": {"method"},
    "Hangup": set(),
}
GATHER_CHILDREN = {"Say", "Play", "Pause"}
GATHER_INPUTS = {"dtmf", "speech", "dtmf speech", "speech dtmf"}
#: <Say> voice -> the languages Twilio accepts with it.
SAY_VOICES: dict[str, set[str]] = {
    "Polly.Joanna": {"en-US"}, "Polly.Joanna-Neural": {"en-US"},
    "Polly.Matthew-Neural": {"en-US"}, "Polly.Amy-Neural": {"en-GB"}, "Polly.Amy": {"en-GB"},
    "Polly.Olivia-Neural": {"en-AU"},
    "Polly.Zhiyu": {"cmn-CN"}, "Polly.Zhiyu-Neural": {"cmn-CN"},
    "Google.cmn-CN-Standard-A": {"cmn-CN"},
}
#: Speech recognition languages of <Gather>.
GATHER_LANGUAGES = {"en-US", "en-GB", "en-AU", "en-IN", "cmn-Hans-CN", "zh-CN", "zh-TW", "cmn-Hant-TW", "yue-Hant-HK"}
MAX_TWIML_BYTES = 64 * 1024
MAX_SAY_BYTES = 3000


class TwimlError(AssertionError):
    """The app sent a document Twilio would refuse (or a flow that would trap a caller)."""


def _fail(msg: str, body: bytes) -> None:
    raise TwimlError(f"{msg}\n--- TwiML ---\n{body.decode('utf-8', 'replace')[:4000]}")


def _absolute(url: str | None, https: bool, body: bytes, what: str) -> None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        _fail(f"{what} is not an absolute URL: {url!r}", body)
    if https and parts.scheme != "https":
        _fail(f"{what} must be https when PUBLIC_BASE_URL is https: {url!r}", body)


def check_twiml(body: bytes, content_type: str, *, https: bool = False) -> ET.Element:
    """Check a TwiML document as Twilio would; returns its root. Raises TwimlError."""
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype not in ("text/xml", "application/xml"):
        _fail(f"Content-Type is {content_type!r}, not text/xml", body)
    if len(body) >= MAX_TWIML_BYTES // 4:
        _fail(f"the document is {len(body)} bytes: too close to Twilio's 64 KB limit", body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        _fail(f"not well-formed XML: {e}", body)
        raise
    if root.tag != "Response":
        _fail(f"the root element is <{root.tag}>, not <Response>", body)
    verbs = list(root)
    asks = [i for i, v in enumerate(verbs) if v.tag in ("Gather", "Record")]
    if len(asks) > 1:
        _fail("more than one <Gather>/<Record> in one document", body)
    for i, verb in enumerate(verbs):
        allowed = VERB_ATTRIBUTES.get(verb.tag)
        if allowed is None:
            _fail(f"<{verb.tag}> is not a verb a survey may use", body)
            return root
        unknown = set(verb.attrib) - allowed
        if unknown:
            _fail(f"<{verb.tag}> has attributes Twilio does not accept: {sorted(unknown)}", body)
        method = verb.get("method")
        if method is not None and method not in ("GET", "POST"):
            _fail(f"<{verb.tag} method={method!r}>", body)
        if verb.tag == "Say":
            _check_say(verb, body)
        elif verb.tag == "Gather":
            _check_gather(verb, body, https)
        elif verb.tag == "Record":
            _check_record(verb, body, https)
        elif verb.tag == "Redirect":
            _absolute((verb.text or "").strip(), https, body, "<Redirect> URL")
            if i != len(verbs) - 1:
                _fail("verbs after a <Redirect> never run", body)
        elif verb.tag == "Hangup" and i != len(verbs) - 1:
            _fail("verbs after <Hangup> never run", body)
        elif verb.tag == "Pause":
            length = verb.get("length", "1")
            if not length.isdigit():
                _fail(f"<Pause length={length!r}>", body)
        if verb.tag != "Say" and (verb.text or "").strip() and verb.tag != "Redirect":
            _fail(f"<{verb.tag}> has text", body)
        if verb.tag in ("Gather", "Record"):
            following = verbs[i + 1] if i + 1 < len(verbs) else None
            if following is None or following.tag != "Redirect":
                _fail(f"<{verb.tag}> is not followed by a <Redirect> for the no-input case", body)
    return root


def _check_say(say: ET.Element, body: bytes) -> None:
    text = (say.text or "").strip()
    if not text:
        _fail("<Say> with no text (Twilio warning 13520)", body)
    if len(text.encode("utf-8")) > MAX_SAY_BYTES:
        _fail(f"<Say> of {len(text.encode('utf-8'))} bytes (Polly takes at most {MAX_SAY_BYTES})", body)
    if list(say):
        _fail("<Say> has child elements", body)
    voice, language = say.get("voice"), say.get("language")
    if voice is None or language is None:
        _fail("<Say> without an explicit voice and language", body)
    if voice not in SAY_VOICES or language not in SAY_VOICES[voice or ""]:
        _fail(f"<Say voice={voice!r} language={language!r}> is not a pair Twilio accepts", body)


def _positive_int(value: str | None) -> bool:
    return value is not None and value.isdigit() and int(value) > 0


def _check_gather(gather: ET.Element, body: bytes, https: bool) -> None:
    _absolute(gather.get("action"), https, body, "<Gather action>")
    inp = gather.get("input", "dtmf")
    if inp not in GATHER_INPUTS:
        _fail(f"<Gather input={inp!r}> (a list rendered as text?)", body)
    for name in ("timeout", "numDigits"):
        if gather.get(name) is not None and not _positive_int(gather.get(name)):
            _fail(f"<Gather {name}={gather.get(name)!r}>", body)
    fok = gather.get("finishOnKey")
    if fok is not None and not re.fullmatch(r"[0-9#*]?", fok):
        _fail(f"<Gather finishOnKey={fok!r}>", body)
    st = gather.get("speechTimeout")
    if st is not None and st != "auto" and not _positive_int(st):
        _fail(f"<Gather speechTimeout={st!r}>", body)
    if "speech" in inp:
        lang = gather.get("language")
        if lang not in GATHER_LANGUAGES:
            _fail(f"<Gather language={lang!r}> is not a speech recognition language", body)
    elif gather.get("hints") or gather.get("language"):
        _fail("<Gather> speech attributes without speech input", body)
    children = list(gather)
    for child in children:
        if child.tag not in GATHER_CHILDREN:
            _fail(f"<Gather> may contain only Say, Play and Pause, not <{child.tag}>", body)
        if child.tag == "Say":
            _check_say(child, body)
    if not children:
        _fail("a <Gather> that says nothing", body)


def _check_record(record: ET.Element, body: bytes, https: bool) -> None:
    _absolute(record.get("action"), https, body, "<Record action>")
    ml = record.get("maxLength")
    if ml is None or not _positive_int(ml) or int(ml) > 14400:
        _fail(f"<Record maxLength={ml!r}>", body)
    for name in ("playBeep", "transcribe"):
        value = record.get(name)
        if value is not None and value not in ("true", "false"):
            _fail(f"<Record {name}={value!r}>", body)
    if record.get("transcribeCallback"):
        _absolute(record.get("transcribeCallback"), https, body, "<Record transcribeCallback>")


# -- transports ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes


class FlaskTransport:
    """Posts through a Flask test client. ``proxy=True`` posts to an internal http address
    with ``X-Forwarded-*`` headers, as a TLS-terminating proxy would."""

    def __init__(self, client: Any, *, proxy: bool = False, internal_base: str | None = None) -> None:
        self.client = client
        self.proxy = proxy
        #: Where requests really arrive (e.g. http://10.0.0.5:8000 behind a proxy).
        self.internal_base = internal_base or ("http://10.0.0.5:8000" if proxy else None)

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        hdrs = dict(headers)
        base = self.internal_base or f"{parts.scheme}://{parts.netloc}"
        if self.proxy:
            hdrs.update({"X-Forwarded-Proto": parts.scheme, "X-Forwarded-Host": parts.netloc,
                         "X-Forwarded-For": "54.172.60.1"})
        resp = self.client.post(path, data=params, headers=hdrs, base_url=base)
        return Reply(resp.status_code, resp.content_type or "", resp.data)


class HttpTransport:
    """Posts over a keep-alive HTTP connection (benchmarks); ``on_request(seconds, ok)``
    sees every request's latency."""

    def __init__(self, host: str, port: int, on_request: Callable[[float, bool], None] | None = None) -> None:
        self.host, self.port = host, port
        self.on_request = on_request
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = urlencode(params).encode()
        hdrs = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        start = time.perf_counter()
        for retry in range(2):
            try:
                self.conn.request("POST", path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if retry:
                    if self.on_request:
                        self.on_request(time.perf_counter() - start, False)
                    raise
        if self.on_request:
            self.on_request(time.perf_counter() - start, resp.status < 400)
        return Reply(resp.status, resp.getheader("Content-Type") or "", payload)


# -- the simulator ------------------------------------------------------------------------------


@dataclass
class Heard:
    text: str
    voice: str | None
    language: str | None
    in_gather: bool = False


@dataclass
class Posted:
    url: str
    params: dict[str, str]
    status: int
    body: bytes


_sids = itertools.count(1)


def new_call_sid() -> str:
    return f"CA{time.time_ns() % 10**12:012d}{next(_sids):020d}"


class CallError(AssertionError):
    pass


class CallSim:
    """Twilio's side of calls to one app."""

    def __init__(
        self,
        transport: Any,
        *,
        base_url: str = "http://localhost",
        token: str | None = AUTH_TOKEN,
        status_path: str | None = "/ivr/status",
        https: bool = False,
        check: bool = True,
        extra_params: dict[str, str] | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.status_path = status_path
        self.https = https
        self.check = check
        #: Parameters Twilio might add one day; sent on every request.
        self.extra_params = dict(extra_params or {})

    def sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if not self.token:
            return {}
        return {"X-Twilio-Signature": RequestValidator(self.token).compute_signature(url, params)}

    def dial(
        self,
        to: str = "+15551230000",
        from_: str = "+15557654321",
        *,
        path: str = "/ivr/voice",
        call_sid: str | None = None,
    ) -> Call:
        """An inbound call to ``to``: Twilio posts the number's Voice URL."""
        call = Call(self, call_sid or new_call_sid(), from_=from_, to=to, direction="inbound",
                    status_callback=self._url(self.status_path) if self.status_path else None)
        call.start(self._url(path))
        return call

    def place(
        self,
        url: str,
        *,
        to: str,
        from_: str,
        call_sid: str,
        status_callback: str | None,
        answered_by: str | None = "human",
        progress: bool = True,
    ) -> Call:
        """An outbound call the app asked for with ``calls.create``: Twilio reports it
        initiated and ringing, then (answered) posts its voice URL."""
        call = Call(self, call_sid, from_=from_, to=to, direction="outbound-api",
                    status_callback=status_callback, answered_by=answered_by)
        if progress:
            call.status("initiated", CallStatus="queued")
            call.status("ringing", CallStatus="ringing")
        call.start(url)
        return call

    def unanswered(self, *, call_sid: str, to: str, from_: str, status_callback: str, outcome: str) -> Posted:
        """An outbound call that never connected: busy, no-answer, failed or canceled."""
        call = Call(self, call_sid, from_=from_, to=to, direction="outbound-api", status_callback=status_callback)
        call.status("initiated", CallStatus="queued")
        return call.status(outcome, CallStatus=outcome, CallDuration="0")

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path


@dataclass
class Call:
    sim: CallSim
    call_sid: str
    from_: str
    to: str
    direction: str
    status_callback: str | None = None
    answered_by: str | None = None
    heard: list[Heard] = field(default_factory=list)
    posted: list[Posted] = field(default_factory=list)
    ended: bool = False
    #: The <Gather> or <Record> waiting for the caller, and the verbs after it.
    waiting: ET.Element | None = None
    rest: list[ET.Element] = field(default_factory=list)
    document_url: str = ""
    seconds: int = 0
    status_sent: bool = False

    # -- Twilio's requests ----------------------------------------------------------------------
    def params(self, **extra: str) -> dict[str, str]:
        p = {
            "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": self.call_sid,
            "CallStatus": "in-progress", "Direction": self.direction, "From": self.from_, "To": self.to,
            "Called": self.to, "Caller": self.from_, "FromCountry": "US", "ToCountry": "US",
            **self.sim.extra_params,
        }
        if self.answered_by and self.direction != "inbound":
            p["AnsweredBy"] = self.answered_by
        p.update({k: str(v) for k, v in extra.items()})
        return p

    def post(self, url: str, params: dict[str, str], *, headers: dict[str, str] | None = None) -> Posted:
        hdrs = self.sim.sign(url, params) if headers is None else headers
        reply = self.sim.transport.post(url, params, hdrs)
        posted = Posted(url, params, reply.status, reply.body)
        self.posted.append(posted)
        if reply.status != 200:
            raise CallError(f"POST {url} answered {reply.status}: {reply.body[:500]!r}")
        if self.sim.check:
            check_twiml(reply.body, reply.content_type, https=self.sim.https)
        return posted

    def start(self, url: str) -> None:
        self._fetch(url, self.params())

    def _fetch(self, url: str, params: dict[str, str]) -> None:
        posted = self.post(url, params)
        self.document_url = url
        root = ET.fromstring(posted.body)
        self._run(list(root))

    def status(self, event: str, **extra: str) -> Posted:
        """Post a status callback (``CallStatus`` from ``extra`` or ``event``)."""
        if not self.status_callback:
            raise CallError("this call has no status callback")
        params = self.params(**{"CallStatus": event, **extra})
        reply = self.sim.transport.post(self.status_callback, params, self.sim.sign(self.status_callback, params))
        posted = Posted(self.status_callback, params, reply.status, reply.body)
        self.posted.append(posted)
        if reply.status != 200:
            raise CallError(f"status callback answered {reply.status}: {reply.body[:300]!r}")
        return posted

    # -- executing TwiML -----------------------------------------------------------------------------
    def _run(self, verbs: list[ET.Element]) -> None:
        for i, verb in enumerate(verbs):
            if verb.tag == "Say":
                self._hear(verb)
            elif verb.tag == "Pause":
                self.seconds += int(verb.get("length", "1"))
            elif verb.tag == "Play":
                self.seconds += 3
            elif verb.tag in ("Gather", "Record"):
                if verb.tag == "Gather":
                    for child in verb:
                        if child.tag == "Say":
                            self._hear(child, in_gather=True)
                self.waiting, self.rest = verb, verbs[i + 1:]
                return
            elif verb.tag == "Redirect":
                url = urljoin(self.document_url, (verb.text or "").strip())
                self._follow(url, verb.get("method", "POST"))
                return
            elif verb.tag in ("Hangup", "Reject"):
                self._end()
                return
        self._end()  # the end of the document hangs up

    def _hear(self, say: ET.Element, in_gather: bool = False) -> None:
        text = (say.text or "").strip()
        self.heard.append(Heard(text, say.get("voice"), say.get("language"), in_gather))
        self.seconds += max(1, len(text) // 15)

    def _follow(self, url: str, method: str = "POST") -> None:
        self.waiting, self.rest = None, []
        self._fetch(url, self.params())

    def _submit(self, verb: ET.Element, **extra: str) -> None:
        url = urljoin(self.document_url, verb.get("action") or self.document_url)
        self.waiting, self.rest = None, []
        self._fetch(url, self.params(**extra))

    def _end(self) -> None:
        self.waiting, self.rest = None, []
        if self.ended:
            return
        self.ended = True
        if self.status_callback and not self.status_sent:
            self.status_sent = True
            self.status("completed", CallDuration=str(self.seconds))

    # -- what the caller does ----------------------------------------------------------------------
    def _need(self, tag: str) -> ET.Element:
        if self.ended:
            raise CallError("the call has ended")
        if self.waiting is None or self.waiting.tag != tag:
            got = self.waiting.tag if self.waiting is not None else "nothing"
            raise CallError(f"the call is waiting for {got}, not a {tag}")
        return self.waiting

    def press(self, keys: str) -> Call:
        """Key presses at a <Gather>, as Twilio collects them: ``numDigits`` keys submit at
        once, ``finishOnKey`` submits what came before it, else the timeout submits what
        was pressed. Keys where only speech is listened to are ignored (silence)."""
        gather = self._need("Gather")
        self.seconds += 2
        if "dtmf" not in gather.get("input", "dtmf"):
            return self.silence()
        finish = gather.get("finishOnKey", "#")
        limit = int(gather.get("numDigits") or 0)
        collected = ""
        for key in keys:
            if finish and key == finish:
                if collected:
                    break
                continue  # a finish key before any digit does nothing
            collected += key
            if limit and len(collected) >= limit:
                break
        if not collected:
            return self.silence()
        self._submit(gather, Digits=collected)
        return self

    def say(self, words: str, confidence: float = 0.92) -> Call:
        """Speech at a <Gather>; ignored (silence) when only keys are listened to."""
        gather = self._need("Gather")
        self.seconds += 3
        if "speech" not in gather.get("input", "dtmf"):
            return self.silence()
        self._submit(gather, SpeechResult=words, Confidence=f"{confidence:.6f}")
        return self

    def silence(self) -> Call:
        """Nothing until the timeout: Twilio runs the verb after the <Gather>/<Record>."""
        if self.ended:
            raise CallError("the call has ended")
        if self.waiting is None:
            raise CallError("the call is not waiting for the caller")
        self.seconds += int(self.waiting.get("timeout", "5"))
        rest = self.rest
        self.waiting, self.rest = None, []
        self._run(rest)
        return self

    def record(self, seconds: int = 6, *, hang_up: bool = False, url: str | None = None) -> Call:
        """Speak after the beep at a <Record> and press # (or hang up, which still posts
        the recording; Twilio ignores the reply)."""
        rec = self._need("Record")
        n = next(_sids)
        url = url or f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{n:032d}"
        self.seconds += seconds
        extra = {"RecordingUrl": url, "RecordingSid": f"RE{n:032d}", "RecordingDuration": str(seconds),
                 "Digits": "hangup" if hang_up else "#"}
        if hang_up:
            target = urljoin(self.document_url, rec.get("action") or self.document_url)
            self.waiting, self.rest = None, []
            self.post(target, self.params(**extra))
            self._end()
            return self
        self._submit(rec, **extra)
        return self

    def hang_up(self, *, send_status: bool = True) -> Call:
        """The caller hangs up now."""
        self.waiting, self.rest = None, []
        if not send_status:
            self.status_sent = True
        self._end()
        return self

    # -- reading the call ---------------------------------------------------------------------------
    @property
    def said(self) -> list[str]:
        return [h.text for h in self.heard]

    @property
    def last_said(self) -> str:
        return self.heard[-1].text if self.heard else ""

    def transcript(self) -> str:
        return "\n".join(self.said)

    @property
    def prompt(self) -> str:
        """What was said inside the waiting <Gather> (or before the waiting <Record>)."""
        if self.waiting is None:
            return ""
        if self.waiting.tag == "Gather":
            return " ".join((c.text or "").strip() for c in self.waiting if c.tag == "Say")
        return self.last_said

    @property
    def last_twiml(self) -> bytes:
        docs = [p for p in self.posted if p.url != self.status_callback]
        return docs[-1].body if docs else b""
