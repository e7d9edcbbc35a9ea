"""Benchmark of the pure core: survey loading and the interview engine.

    .venv/bin/python -m bench.core [--runs 7] [--questions 200]

Prints, as tables:

* load + validate + compile time of a generated survey with 200 questions (every question
  type, en and zh-CN, show_if over earlier answers, piping, all five channels), as the
  median of several runs, next to the YAML parse alone (the floor any loader pays);
* interview engine steps per second: scripted answers through ``start`` / ``resume``
  on SMS (free text through answer understanding), IVR (keypad) and web (form values),
  each with the state kept in memory and with the JSON round trip of the state a channel
  does on every step (serialise, store, parse, resume).

Figures only; nothing passes or fails on them. Other work on the same machine moves them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from ruamel.yaml import YAML

from feedback.definition.loader import CompiledSurvey, load_text, survey_files
from feedback.definition.model import Question
from feedback.engine.interview import Digits, FormValues, Input, Interview, State, Text

ROOT = Path(__file__).resolve().parent.parent
console = Console(highlight=False, width=max(110, Console().width))

KINDS = ["nps", "csat", "ces", "rating", "single_choice", "multiple_choice", "yes_no", "number", "text"]
LABELS = [("Billing", "账单"), ("Delivery", "配送"), ("My account", "我的账户"), ("Product", "产品"),
          ("Price", "价格"), ("Staff", "员工")]


def generate_survey(n: int) -> str:
    """YAML of a survey with ``n`` questions cycling through every type."""
    lines = [
        "spec_version: 1",
        "id: bench-large",
        "title: {en: A very long survey, zh-CN: 很长的问卷}",
        "default_locale: en",
        "locales: [en, zh-CN]",
        "channels: [web, email, ivr, sms, chat]",
        "intro: {en: \"Hi {{ contact.first_name | default('there') }}.\", zh-CN: \"{{ contact.first_name | default('您好') }}！\"}",
        "questions:",
    ]
    numeric: list[str] = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        qid = f"q{i:03d}"
        lines += [f"  - id: {qid}", f"    type: {kind}"]
        if numeric and i % 3 == 0:
            ref = numeric[-1]
            lines.append(f"    text: {{en: \"After {{{{ answers.{ref} }}}}, question {i}?\", "
                         f"zh-CN: \"在 {{{{ answers.{ref} }}}} 之后，第 {i} 题？\"}}")
        else:
            lines.append(f"    text: {{en: \"Question {i}: how was it?\", zh-CN: \"第 {i} 题：怎么样？\"}}")
        if numeric and i % 4 == 1:
            lines.append(f"    show_if: answers.{numeric[-1]} >= 0 or not answered({numeric[-1]})")
        if kind == "rating":
            lines.append("    scale: {min: 1, max: 5, labels: {min: {en: Poor, zh-CN: 差}, max: {en: Great, zh-CN: 很好}}}")
        if kind in ("single_choice", "multiple_choice"):
            lines.append("    choices:")
            for j, (en, zh) in enumerate(LABELS):
                lines.append(f"      - {{code: c{j}, label: {{en: {en}, zh-CN: {zh}}}, aliases: {{en: [{en.lower()}x]}}}}")
        if kind == "number":
            lines += ["    min: 0", "    max: 50"]
        if kind == "text":
            lines += ["    max_length: 300", "    ivr: {input: speech}"]
        if kind in ("nps", "csat", "ces", "rating", "number"):
            numeric.append(qid)
    lines.append("outro: {en: Thank you!, zh-CN: 谢谢！}")
    return "\n".join(lines) + "\n"


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm up (imports, caches)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def scripted_inputs(q: Question, channel: str) -> Input:
    """A reply every question of the generated survey understands, for a channel."""
    if channel == "web":
        value: Any = {"single_choice": "c1", "multiple_choice": ["c0", "c2"], "yes_no": "yes",
                      "text": "Fine, thanks", "number": "3"}.get(q.type, "4")
        return FormValues({q.id: value})
    if channel == "ivr":
        if q.type == "text":
            return Text("it was fine")  # not reached: IVR text answers are speech; see below
        return Digits({"yes_no": "1", "single_choice": "2", "multiple_choice": "13#", "number": "3#"}.get(q.type, "4"))
    return Text({"single_choice": "delivery", "multiple_choice": "1 and 3", "yes_no": "yep",
                 "text": "The wait was too long", "number": "three", "nps": "I'd say a nine"}.get(q.type, "four"))


def run_interview(compiled: CompiledSurvey, channel: str, json_round_trip: bool) -> int:
    """One interview from start to end; returns the number of resume steps."""
    from feedback.engine.interview import Speech

    interview = Interview(compiled)
    replies = {q.id: scripted_inputs(q, channel) for q in compiled.survey.questions}
    if channel == "ivr":
        replies.update({q.id: Speech("it was fine", 0.9) for q in compiled.survey.questions if q.type == "text"})
    state, _ = interview.start({"contact": {"first_name": "Ana"}}, channel=channel, locale="en", seed=7)
    steps = 0
    stored: Any = json.loads(json.dumps(state.to_dict())) if json_round_trip else state
    while True:
        current = stored["current"] if json_round_trip else stored.current
        if current is None:
            break
        state, _ = interview.resume(stored, replies[current])
        steps += 1
        stored = json.loads(json.dumps(state.to_dict())) if json_round_trip else state
    final = State.from_dict(stored) if json_round_trip else stored
    assert final.status == "complete", final.status
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median reported)")
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()

    console.print(f"[bold]Core benchmark[/bold]  python {platform.python_version()}, "
                  f"{os.cpu_count()} CPUs, median of {args.runs} runs (others may be using the machine)")

    text = generate_survey(args.questions)
    compiled = load_text(text, "bench-large.yaml")
    assert len(compiled.survey.questions) == args.questions and not compiled.warnings

    yaml_parse = timed(lambda: YAML(typ="rt").load(text), args.runs)
    full = timed(lambda: load_text(text, "bench-large.yaml"), args.runs)
    table = Table(title=f"Load + validate + compile: {args.questions} questions, "
                        f"{len(text.splitlines())} YAML lines, en + zh-CN, 5 channels")
    for col in ("phase", "median ms", "min ms", "max ms", "per question µs", "× YAML parse"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    floor = statistics.median(yaml_parse)
    for name, times in (("YAML parse only (ruamel round trip)", yaml_parse),
                        ("load_text (parse + validate + compile)", full)):
        med = statistics.median(times)
        table.add_row(name, f"{med * 1e3:.1f}", f"{min(times) * 1e3:.1f}", f"{max(times) * 1e3:.1f}",
                      f"{med / args.questions * 1e6:.0f}", f"{med / floor:.2f}")
    examples = [(p, p.read_text(encoding="utf-8")) for p in survey_files([ROOT / "survey_defs"])]
    for path, source in examples:
        count = len(load_text(source, str(path)).survey.questions)
        times = timed(partial(load_text, source, str(path)), args.runs)
        med = statistics.median(times)
        table.add_row(f"  example {path.name} ({count} questions)", f"{med * 1e3:.1f}", f"{min(times) * 1e3:.1f}",
                      f"{max(times) * 1e3:.1f}", f"{med / count * 1e6:.0f}", "")
    console.print(table)

    steps_table = Table(title="Interview engine: scripted answers through start / resume")
    for col in ("channel (input)", "state between steps", "steps per interview", "median steps/s",
                "µs per step", "× in memory"):
        steps_table.add_column(col, justify="right" if col not in ("channel (input)", "state between steps") else "left")
    for channel, label in (("sms", "sms (free text, understood)"), ("ivr", "ivr (keypad; speech for text)"),
                           ("web", "web (form values)")):
        baseline = 0.0
        for round_trip in (False, True):
            steps = run_interview(compiled, channel, round_trip)
            times = timed(partial(run_interview, compiled, channel, round_trip), max(3, args.runs // 2))
            rate = steps / statistics.median(times)
            if not round_trip:
                baseline = rate
            steps_table.add_row(label, "JSON round trip" if round_trip else "in memory", str(steps),
                                f"{rate:,.0f}", f"{1e6 / rate:.0f}", f"{rate / baseline:.2f}")
    console.print(steps_table)


if __name__ == "__main__":
    main()
