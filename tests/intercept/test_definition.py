"""The ``intercept:`` survey section: valid forms, located errors, the rules sent to browsers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedback.definition.loader import load_text
from feedback.errors import DefinitionError
from feedback.intercept.definition import (
    bucket,
    client_rules,
    fnv1a,
    in_sample,
    intercept_section,
    regex_problem,
)

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
spec_version: 1
id: site-survey
title: Site survey
channels: [web]
questions:
  - {id: q, type: text, text: Anything to tell us?}
"""


def load(section: str, head: str = HEAD):
    return load_text(head + section, "site.yaml")


def problems(section: str, head: str = HEAD) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        load(section, head)
    return [str(p) for p in info.value.problems]


def test_a_full_section_is_valid_and_compiles_to_compact_rules() -> None:
    compiled = load(
        """\
intercept:
  site: [shop, blog]
  sample: 0.5
  recontact_days: 14
  placement: bottom-left
  rules:
    - url: {contains: /checkout/done}
      seconds: 5
    - url: [{exact: /pricing}, {regex: '^https://shop\\.example\\.com/p/\\d+$'}]
      exclude_url: {contains: /admin}
      pages_viewed: 3
      scroll: 50
    - exit_intent: true
"""
    )
    section = intercept_section(compiled.survey)
    assert section is not None and section["site"] == ["shop", "blog"]
    rules = client_rules("site-survey", section)
    assert rules == {
        "id": "site-survey",
        "sample": 0.5,
        "wait": 14.0,
        "place": "bottom-left",
        "rules": [
            {"u": [["c", "/checkout/done"]], "s": 5.0},
            {
                "u": [["e", "/pricing"], ["r", "^https://shop\\.example\\.com/p/\\d+$"]],
                "x": [["c", "/admin"]],
                "p": 3,
                "y": 50.0,
            },
            {"e": 1},
        ],
    }


def test_defaults_sample_everyone_and_wait_thirty_days() -> None:
    section = intercept_section(load("intercept: {site: shop, rules: [{seconds: 10}]}\n").survey)
    assert section is not None
    rules = client_rules("site-survey", section)
    assert rules["sample"] == 1.0 and rules["wait"] == 30.0 and rules["place"] == "center"


def test_a_survey_without_the_section_has_none() -> None:
    assert intercept_section(load("").survey) is None


def test_a_bad_regex_is_a_located_error_pointing_into_the_pattern() -> None:
    found = problems(
        """\
intercept:
  site: shop
  rules:
    - url: {regex: 'shop(/p'}
"""
    )
    # line 10; the pattern starts after the quote at column 20, the "(" is its 5th character.
    assert found == ["site.yaml:10:25: regex: missing ), unterminated subpattern at position 5"]


def test_python_only_regex_syntax_is_refused_because_browsers_run_the_rules() -> None:
    found = problems(
        """\
intercept:
  site: shop
  rules:
    - url: {regex: '(?P<id>\\d+)'}
    - url: {regex: '(?i)checkout'}
    - url:
        regex: '\\Ashop'
"""
    )
    assert len(found) == 3
    assert found[0].startswith("site.yaml:10:21: regex: named groups are written (?<name>...)")
    assert found[1].startswith("site.yaml:11:21: regex: inline flags like (?i)")
    assert found[2].startswith("site.yaml:13:17: regex: \\A and \\Z are not supported")


def test_escaped_characters_are_not_mistaken_for_python_only_syntax() -> None:
    assert regex_problem(r"\(\?P<x>") is None
    assert regex_problem(r"[(?P]") is None
    assert regex_problem(r"^/orders/\d+$") is None
    assert regex_problem(r"a++") is not None


def test_every_problem_of_the_section_is_reported_in_one_run_with_its_place() -> None:
    found = problems(
        """\
intercept:
  sit: shop
  sample: 1.5
  recontact_days: -1
  placement: middle
  rules:
    - url: {contain: /x}
      seconds: soon
      scrol: 50
    - url: {contains: /a, exact: /b}
      exit_intent: "yes"
      pages_viewed: 0
    - scroll: 150
    - "on exit"
"""
    )
    assert found == [
        "site.yaml:8:3: unknown key 'sit' in intercept; did you mean 'site'? "
        "(keys: site, rules, sample, recontact_days, placement)",
        "site.yaml:9:11: sample must be between 0 and 1, not 1.5",
        "site.yaml:10:19: recontact_days must be between 0 and 3650, not -1",
        "site.yaml:11:14: placement must be one of center, bottom-right, bottom-left, not 'middle'",
        "site.yaml:13:13: unknown URL match 'contain'; did you mean 'contains'? (matches: exact, contains, regex)",
        "site.yaml:14:16: seconds must be a number, not a text",
        "site.yaml:15:7: unknown key 'scrol' in a rule; did you mean 'scroll'? "
        "(keys: url, exclude_url, pages_viewed, seconds, scroll, exit_intent)",
        "site.yaml:16:27: a URL match has one of exact, contains, regex, not several; write them as a list of matches",
        "site.yaml:17:20: exit_intent must be true or false, not a text",
        "site.yaml:18:21: pages_viewed must be between 1 and 1000, not 0",
        "site.yaml:19:15: scroll (a percentage of the page) must be between 1 and 100, not 150",
        "site.yaml:20:7: a rule must be a map of conditions (e.g. seconds: 10), not a text",
    ]


def test_rules_are_required_and_not_empty() -> None:
    assert problems("intercept: {site: shop}\n") == [
        "site.yaml:7:12: intercept needs rules: a list of when to open the survey (e.g. - seconds: 10)"
    ]
    assert problems("intercept: {site: shop, rules: []}\n") == [
        "site.yaml:7:32: rules must be a non-empty list of rules, not a list"
    ]


def test_site_names_are_slugs() -> None:
    assert problems("intercept: {site: My Shop, rules: [{seconds: 1}]}\n") == [
        "site.yaml:7:19: site 'My Shop' must be a site name: lowercase letters, digits and dashes"
    ]


def test_the_section_must_be_a_map() -> None:
    assert problems("intercept: [shop]\n") == [
        "site.yaml:7:12: intercept must be a map with site and rules, not a list"
    ]


def test_a_survey_not_on_the_web_channel_cannot_be_intercepted() -> None:
    head = HEAD.replace("channels: [web]", "channels: [sms]")
    found = problems("intercept: {site: shop, rules: [{seconds: 1}]}\n", head)
    assert found == ["site.yaml:7:12: the intercept opens the web survey, so channels must include web"]


def test_the_cli_reports_intercept_errors_as_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "intercept:\n  site: shop\n  rules:\n    - url: {regex: '[a-'}\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", "from feedback.cli import main; main()", "validate", str(path)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 1
    assert f"{path}:10:21: regex: unterminated character set at position 1" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_example_survey_with_an_intercept_is_valid() -> None:
    from feedback.definition.loader import load_file

    compiled = load_file(ROOT / "survey_defs" / "website-feedback.yaml")
    section = intercept_section(compiled.survey)
    assert section is not None and section["site"] == "shop"
    assert "web" in compiled.survey.channels


# -- sampling --------------------------------------------------------------------------------------


def test_the_sample_hash_is_32_bit_fnv1a() -> None:
    # Published FNV-1a test vectors; the loader computes the same over UTF-16 code units.
    assert fnv1a("") == 0x811C9DC5
    assert fnv1a("a") == 0xE40C292C
    assert fnv1a("foobar") == 0xBF9CF968
    assert bucket("foo", "bar") == fnv1a("foo:bar") / 2**32


@given(st.text(max_size=40), st.text(min_size=1, max_size=20))
def test_bucket_is_deterministic_and_in_range(visitor: str, survey: str) -> None:
    b = bucket(visitor, survey)
    assert 0 <= b < 1
    assert bucket(visitor, survey) == b
    assert not in_sample(visitor, survey, 0)
    assert in_sample(visitor, survey, 1)


def test_sampling_takes_roughly_the_share_asked_for() -> None:
    taken = sum(in_sample(f"visitor-{i}", "site-survey", 0.25) for i in range(4000))
    assert 800 < taken < 1200


def test_the_section_module_is_pure_because_the_survey_loader_imports_it() -> None:
    probe = "import feedback.intercept.definition, sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    import json

    leaked = [m for m in json.loads(out.stdout) if m.split(".")[0] in
              ("flask", "werkzeug", "sqlalchemy", "alembic", "twilio", "redis", "rq", "psycopg")]
    assert leaked == []


def test_the_loader_knows_the_section_whoever_imported_it_first() -> None:
    probe = (
        "from feedback.definition.loader import load_text\n"
        "load_text(open('survey_defs/website-feedback.yaml', encoding='utf-8').read(), 'w.yaml')\n"
        "from feedback.definition.loader import EXTENSION_SECTIONS\n"
        "print(sorted(EXTENSION_SECTIONS))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "'intercept'" in out.stdout
