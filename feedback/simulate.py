"""``feedback simulate``: a survey run in the terminal exactly as a channel would put it.

IVR shows what the call would say and how to answer on the keypad; SMS shows
each message with its segment count; chat shows messages and quick replies;
web shows each page's question and options (email runs as web: the first
question is the one embedded in the invitation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from feedback.definition.loader import CompiledSurvey
from feedback.definition.model import CHOICE_TYPES
from feedback.engine import prompts
from feedback.engine.interview import (
    AnswerAccepted,
    Digits,
    Event,
    FormValues,
    HangUp,
    Input,
    Interview,
    NoInput,
    QuestionAsked,
    QuestionSkipped,
    Recording,
    Reprompt,
    Speech,
    State,
    SurveyCompleted,
    SurveyEnded,
    SurveyStarted,
    Text,
)
from feedback.engine.render import messages, spoken
from feedback.engine.understanding import understand_yes_no
from feedback.errors import FeedbackError
from feedback.i18n import tr

Printer = Callable[[str], None] | None

#: The speech-recognition confidence of a simulated spoken answer, unless told otherwise.
DEFAULT_CONFIDENCE = 0.9
_SPEECH = re.compile(r"^speech(?:@(?P<confidence>[^:]*))?:(?P<text>.*)$", re.I | re.S)


class AnswerSyntaxError(FeedbackError):
    """A scripted or typed answer the simulator cannot read (e.g. ``speech@high:eight``)."""

    code = "bad_answer"


def parse_confidence(text: str) -> float:
    """A confidence from 0 to 1, or AnswerSyntaxError."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise AnswerSyntaxError(f"the confidence in 'speech@{text}:' must be a number from 0 to 1")
    return value


class Simulation:
    def __init__(
        self,
        survey: CompiledSurvey,
        *,
        channel: str,
        locale: str | None = None,
        context: dict[str, Any] | None = None,
        seed: int = 1,
        confidence: float = DEFAULT_CONFIDENCE,
    ) -> None:
        self.interview = Interview(survey)
        self.confidence = confidence
        self.channel = channel
        self.locale = locale
        self.context = context or {}
        self.seed = seed
        self.transcript: list[dict[str, Any]] = []
        self.state: State | None = None

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.finished

    def status_word(self) -> str:
        if self.state is None:
            return "not started"
        return "complete" if self.state.status == "complete" else "partial"

    def begin(self, printer: Printer) -> None:
        self.state, events = self.interview.start(
            self.context, channel=self.channel, locale=self.locale, seed=self.seed
        )
        self._show(events, printer)

    def feed(self, reply: str, printer: Printer) -> None:
        """Answer the current question. An answer the simulator cannot read raises
        :class:`AnswerSyntaxError` and changes nothing."""
        assert self.state is not None
        inp = self._input(reply)
        self.transcript.append({"from": "respondent", "text": reply})
        self.state, events = self.interview.resume(self.state, inp)
        self._show(events, printer)

    def _input(self, reply: str) -> Input:
        r = reply.strip()
        if r == "(hangup)":
            return HangUp()
        if r in ("(silence)", "(timeout)"):
            return NoInput()
        if self.channel == "ivr":
            if r.lower().startswith("dtmf:"):
                keys = r[5:].strip()
                # A gather that ends with no key pressed is no input, as on a real call.
                return Digits(keys) if keys else NoInput()
            if r.lower().startswith("record:"):
                return Recording("simulated://recording", duration=5, transcript=r[7:].strip() or None)
            m = _SPEECH.match(r)
            if m:
                confidence = self.confidence
                if m.group("confidence") is not None:
                    confidence = parse_confidence(m.group("confidence").strip())
                said = m.group("text").strip()
                return Speech(said, confidence=confidence) if said else NoInput()
            return Speech(r, confidence=self.confidence)
        if self.channel in ("web", "email"):
            assert self.state is not None and self.state.current is not None
            q = self.interview.question(self.state.current)
            if r.lower() == "(back)":
                from feedback.engine.interview import Back

                return Back()
            value: Any = r
            if q.type in CHOICE_TYPES:
                # On a web page the respondent picks options; the simulator accepts the
                # option numbers or codes, comma separated.
                order = [c.code for c in prompts.ordered_choices(q, self._order(q.id))]
                picked = []
                for part in [p.strip() for p in r.split(",") if p.strip()]:
                    picked.append(order[int(part) - 1] if part.isdigit() and 0 < int(part) <= len(order) else part)
                value = picked if q.type == "multiple_choice" else (picked[0] if picked else "")
            elif q.type == "yes_no":
                # Clicking "Yes" or "No": the simulator also takes y/n, 1/2 and 是/否.
                said = understand_yes_no(r, self.state.locale) if r else None
                value = r if said is None else ("yes" if said else "no")
            # An email invitation carries the first question; the rest is on the web page.
            first = self.channel == "email" and self.state.step == 0
            return FormValues({q.id: value}, modality="email" if first else "web")
        return Text(reply)

    def _order(self, qid: str) -> list[str]:
        from feedback.engine.interview import choice_order

        assert self.state is not None
        return choice_order(self.state, self.interview.question(qid))

    def _show(self, events: list[Event], printer: Printer) -> None:
        assert self.state is not None
        for ev in events:
            if isinstance(ev, AnswerAccepted):
                self.transcript.append({"event": "answer", "question": ev.question_id, "value": ev.value,
                                        "raw": ev.raw, "modality": ev.modality})
            elif isinstance(ev, QuestionSkipped):
                self.transcript.append({"event": "skip", "question": ev.question_id, "reason": ev.reason})
        if self.channel == "ivr":
            for turn in spoken(self.interview, self.state, events):
                if turn.say:
                    self._say("system", turn.say, printer, kind=turn.kind)
                if turn.gather and printer:
                    printer(f"    [{describe_gather(turn.gather)}]")
                if turn.record and printer:
                    printer(f"    [record up to {turn.record['max_length']}s]")
                if turn.hangup and printer:
                    printer("    [hang up]")
        elif self.channel in ("sms", "chat"):
            for m in messages(self.interview, self.state, events, self.channel):
                self._say("system", m.text, printer, kind=m.kind,
                          extra={"segments": m.segments, "encoding": m.encoding}
                          if self.channel == "sms" else {"quick_replies": m.quick_replies})
                if printer and self.channel == "sms":
                    printer(f"    [SMS: {m.segments} segment{'s' if m.segments != 1 else ''}, {m.encoding}]")
                if printer and m.quick_replies:
                    printer("    [" + " | ".join(r["label"] for r in m.quick_replies) + "]")
        else:
            self._show_web(events, printer)

    def _show_web(self, events: list[Event], printer: Printer) -> None:
        survey = self.interview.survey
        loc = self.state.locale if self.state else "en"
        for ev in events:
            if isinstance(ev, SurveyStarted) and ev.intro:
                self._say("system", ev.intro, printer, kind="intro")
            elif isinstance(ev, QuestionAsked):
                q = self.interview.question(ev.question_id)
                assert self.state is not None
                done, total = self.interview.progress(self.state)
                head = ev.text if q.required else prompts.join_sentences(ev.text, tr(loc, "(optional)"))
                lines = [f"[{done + 1}/{total}] {head}"]
                rng = q.scale_range
                if rng:
                    labels = prompts.end_labels(survey, q, loc)
                    scale = " ".join(str(n) for n in range(rng[0], rng[1] + 1))
                    lines.append(f"    ( {scale} )" + (f"  {labels[0]} ... {labels[1]}" if labels else ""))
                elif q.choices:
                    box = "[ ]" if q.type == "multiple_choice" else "( )"
                    for n, c in enumerate(prompts.ordered_choices(q, ev.choice_order), 1):
                        lines.append(f"    {box} {n}. {survey.text(c.label, loc)}")
                elif q.type == "yes_no":
                    lines.append(f"    ( ) {tr(loc, 'Yes')}   ( ) {tr(loc, 'No')}")
                self._say("system", "\n".join(lines), printer, kind="question")
            elif isinstance(ev, Reprompt):
                self._say("system", f"! {ev.hint}", printer, kind="reprompt")
            elif isinstance(ev, SurveyCompleted):
                self._say("system", ev.outro or tr(loc, "Thank you!"), printer, kind="outro")
            elif isinstance(ev, SurveyEnded) and ev.reason == "max_attempts":
                self._say("system", tr(loc, "Sorry, we could not understand. Thank you for your time."),
                          printer, kind="end")

    def _say(self, who: str, text: str, printer: Printer, kind: str, extra: dict[str, Any] | None = None) -> None:
        self.transcript.append({"from": who, "kind": kind, "text": text, **(extra or {})})
        if printer:
            printer(text)

    def outcome(self) -> dict[str, Any]:
        state = self.state
        return {
            "status": self.status_word(),
            "locale": state.locale if state else None,
            "channel": self.channel,
            "answers": dict(state.answers) if state else {},
            "skipped": list(state.skipped) if state else [],
            "transcript": self.transcript,
        }


def describe_gather(gather: dict[str, Any]) -> str:
    """What the phone listens for, e.g. "listen for keypad (1 key) or speech; timeout 6s"."""
    mode = str(gather.get("input") or "")
    parts = []
    if "dtmf" in mode:
        digits = gather.get("num_digits")
        most = gather.get("max_digits")
        if digits:
            parts.append(f"keypad ({digits} key{'s' if digits != 1 else ''})")
        elif most:
            parts.append(f"keypad (up to {most} keys, {gather.get('finish_on_key') or '#'} to end sooner)")
        else:
            parts.append(f"keypad (keys, then {gather.get('finish_on_key') or '#'})")
    if "speech" in mode:
        parts.append("speech")
    return f"listen for {' or '.join(parts) or mode}; timeout {gather.get('timeout')}s"
