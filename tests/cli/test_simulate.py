"""`feedback simulate`: every example survey can be completed on each of its channels in
both languages, scripted (`--answer`) and interactively, and bad input gets one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedback.cli import cli
from feedback.definition.loader import load_file, survey_files

ROOT = Path(__file__).resolve().parents[2]
DEFS = ROOT / "survey_defs"
ALL_TYPES = ROOT / "tests" / "fixtures" / "good" / "all-types.yaml"


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["simulate", *args], input=input, catch_exceptions=False)


def simulate_json(path: Path, channel: str, locale: str, answers: list[str], *extra: str) -> dict[str, Any]:
    args = [str(path), "--channel", channel, "--locale", locale, "--json", *extra]
    for a in answers:
        args += ["--answer", a]
    result = run(*args)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


# (survey, channel, locale, replies, expected answers). Email runs as web: the first answer
# comes from the invitation.
SCRIPTS: list[tuple[str, str, str, list[str], dict[str, Any]]] = [
    ("support-call", "ivr", "en", ["dtmf:7", "the agent kept me on hold", "dtmf:1"],
     {"nps": 7, "reason": "the agent kept me on hold", "resolved": True}),
    ("support-call", "ivr", "zh-CN", ["七分", "等待时间太长", "是的"],
     {"nps": 7, "reason": "等待时间太长", "resolved": True}),
    ("support-call", "sms", "en", ["I'd say an eight", "too slow", "yep"],
     {"nps": 8, "reason": "too slow", "resolved": True}),
    ("support-call", "sms", "zh-CN", ["十分", "不是"], {"nps": 10, "resolved": False}),
    ("support-call", "web", "en", ["9", "n"], {"nps": 9, "resolved": False}),
    ("support-call", "web", "zh-CN", ["3", "太慢", "是"], {"nps": 3, "reason": "太慢", "resolved": True}),
    ("post-purchase", "web", "en", ["2", "1,3", "y", "The box was crushed"],
     {"csat": 2, "issues": ["late", "wrong_item"], "repurchase": True, "comment": "The box was crushed"}),
    ("post-purchase", "web", "zh-CN", ["5", "否", "很好"], {"csat": 5, "repurchase": False, "comment": "很好"}),
    ("post-purchase", "email", "en", ["4", "yes", ""], {"csat": 4, "repurchase": True}),
    ("post-purchase", "email", "zh-CN", ["1", "2", "是", "太慢了"],
     {"csat": 1, "issues": ["damaged"], "repurchase": True, "comment": "太慢了"}),
    ("support-ticket", "chat", "en", ["2", "billing", "three times", "Fewer transfers"],
     {"ces": 2, "topic": "billing", "contacts": 3, "improve": "Fewer transfers"}),
    ("support-ticket", "chat", "zh-CN", ["六", "快递", "两次"], {"ces": 6, "topic": "delivery", "contacts": 2}),
    ("support-ticket", "email", "en", ["7", "account", "1"], {"ces": 7, "topic": "account", "contacts": 1}),
    ("support-ticket", "email", "zh-CN", ["3", "product", "4", "流程太复杂"],
     {"ces": 3, "topic": "product", "contacts": 4, "improve": "流程太复杂"}),
    ("support-ticket", "web", "en", ["5", "delivery", "2"], {"ces": 5, "topic": "delivery", "contacts": 2}),
    ("support-ticket", "web", "zh-CN", ["1", "billing", "", "太难了"],
     {"ces": 1, "topic": "billing", "improve": "太难了"}),
    ("relationship-nps", "web", "en", ["9", "4", "5", "4", "3"],
     {"nps": 9, "wait_time": 4, "agent_knowledge": 5, "resolution": 4, "price": 3}),
    ("relationship-nps", "web", "zh-CN", ["5", "2", "3", "3", "1", "价格太高"],
     {"nps": 5, "wait_time": 2, "agent_knowledge": 3, "resolution": 3, "price": 1, "improve": "价格太高"}),
    ("relationship-nps", "email", "en", ["10", "", "", "", "2", "Lower prices"],
     {"nps": 10, "price": 2, "improve": "Lower prices"}),
    ("relationship-nps", "email", "zh-CN", ["8", "5", "5", "5", "5"],
     {"nps": 8, "wait_time": 5, "agent_knowledge": 5, "resolution": 5, "price": 5}),
]


@pytest.mark.parametrize(
    ("survey", "channel", "locale", "replies", "expected"),
    SCRIPTS,
    ids=[f"{s}-{c}-{loc}" for s, c, loc, *_ in SCRIPTS],
)
def test_scripted_surveys_complete_with_typed_answers(
    survey: str, channel: str, locale: str, replies: list[str], expected: dict[str, Any]
) -> None:
    out = simulate_json(DEFS / f"{survey}.yaml", channel, locale, replies)
    assert out["status"] == "complete"
    assert out["answers"] == expected
    for key, value in expected.items():
        assert type(out["answers"][key]) is type(value)
    assert out["locale"] == locale and out["channel"] == channel
    said = [t["text"] for t in out["transcript"] if t.get("from") == "system"]
    if locale == "zh-CN":  # what the respondent saw was Chinese
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in said), said


def test_every_example_channel_and_locale_is_scripted() -> None:
    """Each of the issue's example surveys is completed on each channel it declares, in both languages."""
    scripted = {(s, c, loc) for s, c, loc, *_ in SCRIPTS}
    for name in ("support-call", "post-purchase", "support-ticket", "relationship-nps"):
        survey = load_file(DEFS / f"{name}.yaml").survey
        for channel in survey.channels:
            for locale in ("en", "zh-CN"):
                assert (name, channel, locale) in scripted, (name, channel, locale)


def test_the_example_surveys_are_the_issue_s_cx_surveys_in_both_languages() -> None:
    """Every example is in en and zh-CN (so the completion runs below cover both), and the four
    CX surveys have the channels and question types they are meant to show."""
    for path in survey_files([DEFS]):
        assert {"en", "zh-CN"} <= set(load_file(path).survey.all_locales), path.name
    wanted = {
        "support-call": ({"ivr", "sms"}, ["nps", "text"]),
        "post-purchase": ({"email", "web"}, ["csat"]),
        "support-ticket": ({"chat", "email"}, ["ces"]),
        "relationship-nps": ({"web", "email"}, ["nps", "rating", "rating", "rating", "rating"]),
    }
    for name, (channels, types) in wanted.items():
        survey = load_file(DEFS / f"{name}.yaml").survey
        assert channels <= set(survey.channels), name
        kinds = [q.type for q in survey.questions]
        assert all(kinds.count(t) >= types.count(t) for t in types), (name, kinds)


# -- any example survey, generic answers ----------------------------------------------------------

ANSWERS = {
    # type: (keypad, en text, zh text, web value, typed value)
    "nps": ("dtmf:9", "nine", "九分", "9", 9),
    "csat": ("dtmf:4", "four", "四", "4", 4),
    "ces": ("dtmf:6", "six", "六", "6", 6),
    "yes_no": ("dtmf:1", "yes", "是的", "yes", True),
    "number": ("dtmf:2#", "two", "两", "2", 2),
    "text": ("Fine, thanks", "Fine, thanks", "挺好的", "Fine, thanks", None),
}


def generic_answer(q: Any, channel: str, locale: str) -> tuple[str, Any]:
    if q.type in ANSWERS:
        keypad, en, zh, web, value = ANSWERS[q.type]
        if q.type == "number":
            value = int(q.min) if q.min is not None and q.min > 2 else 2
            keypad, en, zh, web = f"dtmf:{value}#", str(value), str(value), str(value)
    elif q.type == "rating":
        lo = q.scale_range[0]
        value = lo + 1
        keypad, en, zh, web = f"dtmf:{value}", str(value), str(value), str(value)
    else:  # choices: the survey's first choice, by its code (randomised order safe)
        code = q.choice_codes[0]
        value = code if q.type == "single_choice" else [code]
        keypad, en, zh, web = None, code, code, code
    if q.type == "text":
        value = zh if locale == "zh-CN" else en
    if channel in ("web", "email"):
        return (value if q.type == "text" else web), value
    if channel == "ivr" and keypad and q.type != "text":
        return keypad, value
    return (zh if locale == "zh-CN" else en), value


EXAMPLE_RUNS = [
    (path, channel, locale)
    for path in survey_files([DEFS])
    for channel in load_file(path).survey.channels
    for locale in load_file(path).survey.all_locales
]


@pytest.mark.parametrize(
    ("path", "channel", "locale"), EXAMPLE_RUNS, ids=[f"{p.stem}-{c}-{loc}" for p, c, loc in EXAMPLE_RUNS]
)
def test_every_example_survey_completes_on_every_declared_channel(path: Path, channel: str, locale: str) -> None:
    from feedback.simulate import Simulation

    compiled = load_file(path)
    sim = Simulation(compiled, channel=channel, locale=locale)
    sim.begin(None)
    replies: list[str] = []
    expected: dict[str, Any] = {}
    while not sim.finished:
        q = sim.interview.question(sim.state.current)
        reply, value = generic_answer(q, channel, locale)
        replies.append(reply)
        expected[q.id] = value
        sim.feed(reply, None)
        assert len(replies) <= len(compiled.survey.questions)  # no re-prompt: every answer understood
    out = simulate_json(path, channel, locale, replies)
    assert out["status"] == "complete"
    assert out["answers"] == expected


# -- IVR specifics ------------------------------------------------------------------------------


def answer_events(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["question"]: t for t in out["transcript"] if t.get("event") == "answer"}


def test_emoji_are_read_as_a_person_would() -> None:
    """💯 tops an NPS; 👍 answers a yes/no question; 👍 alone is no NPS score (asked again)."""
    out = simulate_json(DEFS / "support-call.yaml", "sms", "en", ["\U0001f4af", "\U0001f44d\U0001f3fd"])
    assert out["status"] == "complete" and out["answers"] == {"nps": 10, "resolved": True}
    out = simulate_json(DEFS / "support-call.yaml", "sms", "zh-CN", ["\U0001f44d", "9", "\u274c"])
    assert out["answers"] == {"nps": 9, "resolved": False}
    (reprompt,) = [t["text"] for t in out["transcript"] if t.get("kind") == "reprompt"]
    assert "0 到 10" in reprompt


def test_ivr_keypad_and_speech_answers_are_told_apart() -> None:
    keyed = simulate_json(DEFS / "support-call.yaml", "ivr", "en", ["dtmf:7", "slow", "dtmf:2"])
    spoken = simulate_json(DEFS / "support-call.yaml", "ivr", "en", ["seven", "slow", "no"])
    assert keyed["answers"] == spoken["answers"] == {"nps": 7, "reason": "slow", "resolved": False}
    assert answer_events(keyed)["nps"]["modality"] == "keypad"
    assert answer_events(spoken)["nps"]["modality"] == "speech"
    assert answer_events(spoken)["nps"]["raw"] == "seven"


def test_silence_reprompts_and_hangup_leaves_a_partial_response() -> None:
    out = simulate_json(DEFS / "support-call.yaml", "ivr", "en", ["(silence)", "dtmf:9", "(hangup)"])
    assert out["status"] == "partial"
    assert out["answers"] == {"nps": 9}
    said = [t["text"] for t in out["transcript"] if t.get("kind") == "reprompt"]
    assert said and said[0].startswith("Sorry, I didn't hear anything. How likely are you to recommend us")


def test_ivr_output_shows_the_spoken_prompt_and_how_to_answer() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "ivr", "--answer", "dtmf:5", "--answer", "(hangup)")
    assert result.exit_code == 0
    out = result.stdout
    assert "How likely are you to recommend us to a friend or colleague? Enter a number from 0 to 10, then press pound" in out
    assert "[listen for keypad (up to 2 keys, # to end sooner) or speech; timeout 6s]" in out
    # The open question is speech only: no keypad instructions for it.
    assert "What is the main reason for your score of 5? Please say your answer." in out
    assert "[listen for speech; timeout 8s]" in out
    assert "keys" not in out.split("score of 5?")[1].split("\n")[1]


def test_ivr_in_chinese_reads_naturally() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "ivr", "--locale", "zh-CN",
                 "--answer", "八分", "--answer", "(silence)")
    out = result.stdout
    assert "您有多大可能向朋友或同事推荐我们？请输入 0 到 10 之间的数字，然后按井号键" in out
    assert "抱歉，我没有听到您的回答。您打 8 分的主要原因是什么？请说出您的回答。" in out
    assert "？ " not in out and "。 " not in out  # no Latin spaces between Chinese sentences


def test_sms_output_shows_segments() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "sms", "--locale", "zh-CN", "--answer", "九")
    assert "[SMS: 2 segments, UCS-2]" in result.stdout
    assert "请回复“是”或“否”（回复“跳过”可跳过）" in result.stdout


def test_chat_shows_quick_replies() -> None:
    result = run(str(DEFS / "support-ticket.yaml"), "--channel", "chat", "--answer", "2")
    assert "[1 | 2 | 3 | 4 | 5 | 6 | 7]" in result.stdout
    assert "Skip]" in result.stdout


def test_empty_piped_values_leave_no_double_spaces() -> None:
    out = simulate_json(DEFS / "support-ticket.yaml", "chat", "en", [])
    assert out["transcript"][0]["text"] == "Hi there! Your ticket was closed. Can I ask three quick questions?"
    out = simulate_json(DEFS / "post-purchase.yaml", "web", "zh-CN", [])
    assert "[1/4] 您对订单满意吗？" in out["transcript"][1]["text"]


def test_context_is_piped_into_the_prompts() -> None:
    context = json.dumps({"contact": {"first_name": "Ana"}, "event": {"ticket_id": "T-42"}})
    out = simulate_json(DEFS / "support-ticket.yaml", "chat", "en", ["3"], "--context", context)
    assert out["transcript"][0]["text"] == "Hi Ana! Your ticket T-42 was closed. Can I ask three quick questions?"
    out = simulate_json(DEFS / "support-call.yaml", "sms", "zh-CN", ["6"], "--context", '{"contact": {"first_name": "李雷"}}')
    texts = [t["text"] for t in out["transcript"] if t.get("from") == "system"]
    assert texts[0].startswith("李雷，感谢您的来电。")
    assert texts[1].startswith("您打 6 分的主要原因是什么？")


def test_context_can_drive_conditions(tmp_path: Path) -> None:
    path = tmp_path / "vip.yaml"
    path.write_text(
        "spec_version: 1\nid: vip\ntitle: VIP\nchannels: [sms]\nquestions:\n"
        "  - {id: a, type: yes_no, text: A?}\n"
        "  - {id: b, type: yes_no, text: Only for gold?, show_if: 'contact.tier == \"gold\"'}\n",
        encoding="utf-8",
    )
    gold = simulate_json(path, "sms", "en", ["yes", "no"], "--context", '{"contact": {"tier": "gold"}}')
    plain = simulate_json(path, "sms", "en", ["yes", "no"])
    assert gold["answers"] == {"a": True, "b": False}
    assert plain["answers"] == {"a": True} and plain["status"] == "complete"


# -- interactive --------------------------------------------------------------------------------


def test_interactive_mode_reads_answers_from_the_terminal() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "sms", input="nine\nyes\n")
    assert result.exit_code == 0
    assert "How likely are you to recommend us" in result.stdout
    assert "Was your problem solved on this call?" in result.stdout
    assert "Thank you for your feedback. Goodbye!" in result.stdout


def test_interactive_mode_ends_as_partial_when_input_ends() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "ivr", "--json", input="dtmf:4\n")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["status"] == "partial" and out["answers"] == {"nps": 4}


def test_unfinished_script_says_so() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "sms", "--answer", "9")
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("(stopped with the survey partial)")


# -- bad input: one clear line, exit 1, never a traceback ------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--context", "{bad"], "--context: not valid JSON: Expecting property name enclosed in double quotes at column 2"),
        (["--context", "[1, 2]"], '--context must be an object like {"contact": {...}, "event": {...}}'),
        (["--context", '{"contact": "Ana"}'], '--context must be an object like {"contact": {...}, "event": {...}}'),
        (["--locale", "fr"], "--locale: the survey has no locale 'fr' (it has en, zh-CN)"),
        (["--locale", ""], "--locale: the survey has no locale '' (it has en, zh-CN)"),
    ],
)
def test_bad_options_get_one_clear_line(args: list[str], message: str) -> None:
    result = run(str(DEFS / "support-call.yaml"), *args, "--answer", "9")
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert result.stdout == ""


def test_a_locale_is_matched_by_language() -> None:
    out = simulate_json(DEFS / "support-call.yaml", "sms", "zh", ["9"])
    assert out["locale"] == "zh-CN"


def test_an_invalid_survey_is_reported_with_its_positions() -> None:
    result = run(str(ROOT / "tests" / "fixtures" / "broken" / "ten-mistakes.yaml"))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 10
    assert result.stderr.splitlines()[0].endswith("ten-mistakes.yaml:6:27: unknown channel 'fax' (channels: web, email, ivr, sms, chat)")


def test_a_missing_survey_file() -> None:
    result = run("nope.yaml", "--answer", "1")
    assert result.exit_code == 1 and result.stderr.strip() == "nope.yaml:1:1: no such file"


def test_an_undeclared_channel_is_noted_but_runs() -> None:
    result = run(str(DEFS / "relationship-nps.yaml"), "--channel", "sms", "--answer", "9")
    assert result.exit_code == 0
    assert "note: the survey does not declare the sms channel (it declares web, email)" in result.stderr


def test_every_question_type_runs_on_every_channel() -> None:
    replies = {
        "ivr": ["dtmf:3", "too slow", "dtmf:4", "dtmf:5", "dtmf:2", "dtmf:2", "dtmf:1", "dtmf:13#", "dtmf:2#", "(silence)", "(silence)", "(silence)"],
        "sms": ["3", "too slow", "4", "5", "2", "no", "invoice", "1, 3", "two", "skip"],
        "chat": ["3", "too slow", "4", "5", "2", "no", "invoice", "1 and 3", "two", "skip"],
        "web": ["3", "too slow", "4", "5", "2", "n", "billing", "1,3", "2", ""],
    }
    for channel, script in replies.items():
        out = simulate_json(ALL_TYPES, channel, "en", script)
        assert out["status"] == "complete", (channel, out["transcript"][-3:])
        assert out["answers"]["issues"] == ["slow", "wrong"]
        assert out["answers"]["topic"] == "billing" and out["answers"]["calls"] == 2
        assert "comment" not in out["answers"] and "comment" in out["skipped"]


def test_the_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    """Through the real `feedback` executable, as a user runs it."""
    exe = Path(sys.executable).parent / "feedback"
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe")
    for args in (
        ["simulate", str(bad)],
        ["simulate", str(DEFS / "support-call.yaml"), "--context", "{", "--answer", "1"],
        ["simulate", str(DEFS / "support-call.yaml"), "--channel", "fax"],
        ["simulate", str(DEFS)],
    ):
        proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode in (1, 2), (args, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout


# -- speech confidence --------------------------------------------------------------------------


def test_low_confidence_speech_is_confirmed_with_the_confidence_option() -> None:
    out = simulate_json(DEFS / "support-call.yaml", "ivr", "en", ["eight", "yes"], "--confidence", "0.2")
    said = [t["text"] for t in out["transcript"] if t.get("from") == "system"]
    assert said[2] == "I heard 8. Is that right? Press 1 or say yes, press 2 or say no."
    assert out["answers"] == {"nps": 8}
    assert answer_events(out)["nps"]["modality"] == "speech"
    plain = simulate_json(DEFS / "support-call.yaml", "ivr", "en", ["eight"])
    assert plain["answers"] == {"nps": 8}  # 0.9 by default: no confirmation


def test_a_confidence_per_answer() -> None:
    out = simulate_json(DEFS / "support-call.yaml", "ivr", "zh-CN",
                        ["speech@0.3:八分", "不对", "speech@0.95:七分", "speech:太慢了", "dtmf:1"])
    kinds = [t["kind"] for t in out["transcript"] if t.get("from") == "system"]
    assert kinds.count("confirm") == 1
    said = [t["text"] for t in out["transcript"] if t.get("kind") == "confirm"]
    assert said == ["我听到的是8，对吗？对请按 1 或说“是”，不对请按 2 或说“不是”。"]
    assert out["answers"] == {"nps": 7, "reason": "太慢了", "resolved": True}


def test_a_yes_no_answer_is_confirmed_in_a_natural_sentence() -> None:
    out = simulate_json(DEFS / "support-call.yaml", "ivr", "zh-CN", ["dtmf:9", "speech@0.2:是的"])
    (confirm,) = [t["text"] for t in out["transcript"] if t.get("kind") == "confirm"]
    assert confirm.startswith("我听到您说“是”，对吗？")


def test_empty_keys_are_no_input() -> None:
    out = simulate_json(DEFS / "support-call.yaml", "ivr", "en", ["dtmf:", "dtmf:9"])
    said = [t["text"] for t in out["transcript"] if t.get("kind") == "reprompt"]
    assert said[0].startswith("Sorry, I didn't hear anything. How likely are you to recommend us")
    assert out["answers"] == {"nps": 9}


@pytest.mark.parametrize("bad", ["speech@high:eight", "speech@1.5:eight", "speech@:eight", "speech@nan:eight"])
def test_a_bad_confidence_is_one_clear_line(bad: str) -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "ivr", "--answer", bad)
    assert result.exit_code == 1
    value = bad.split(":")[0].removeprefix("speech@")
    assert result.stderr.strip() == (
        f"error: --answer '{bad}': the confidence in 'speech@{value}:' must be a number from 0 to 1")


def test_a_bad_confidence_typed_interactively_is_asked_again() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "ivr", "--json", input="speech@2:eight\ndtmf:8\n")
    assert result.exit_code == 0
    assert "must be a number from 0 to 1" in result.stderr
    assert json.loads(result.stdout)["answers"] == {"nps": 8}


def test_the_confidence_option_is_checked() -> None:
    result = run(str(DEFS / "support-call.yaml"), "--channel", "ivr", "--confidence", "2", "--answer", "9")
    assert result.exit_code == 2 and "--confidence" in result.stderr
    result = run(str(DEFS / "support-call.yaml"), "--channel", "sms", "--confidence", "0.3", "--answer", "9")
    assert result.exit_code == 0
    assert "note: --confidence only applies to speech on the ivr channel" in result.stderr
