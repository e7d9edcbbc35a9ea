"""The core (definition and engine) is pure Python: no web, database, telephony or queue library.

Imported in a fresh interpreter, so that modules other tests loaded cannot hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import feedback.definition
import feedback.engine

FORBIDDEN = ("flask", "werkzeug", "sqlalchemy", "alembic", "twilio", "redis", "rq", "psycopg")
ROOT = Path(__file__).resolve().parents[2]


def core_modules() -> list[str]:
    names = []
    for package in (feedback.definition, feedback.engine):
        folder = Path(package.__file__).parent
        names += [f"{package.__name__}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.stem != "__init__"]
    return names


PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
if "feedback.engine.interview" in sys.modules:
    # Use the core too: loading surveys imports the survey-section checkers of other parts.
    from feedback.definition.loader import load_file, survey_files
    from feedback.definition.schema import json_schema
    from feedback.engine.interview import Interview, Text
    from feedback.engine.render import messages, spoken
    for path in survey_files(["survey_defs"]):
        interview = Interview(load_file(path))
        state, events = interview.start(channel="sms", locale="zh-CN")
        messages(interview, state, events, "sms")
        state, events = interview.resume(state, Text("9"))
        spoken(interview, state, events)
    json_schema()
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after_importing(names: list[str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *names], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


def test_there_is_a_core_to_check() -> None:
    names = core_modules()
    assert "feedback.definition.loader" in names
    assert "feedback.engine.interview" in names
    assert "feedback.engine.understanding" in names


def test_core_imports_no_web_database_telephony_or_queue_library() -> None:
    modules = loaded_after_importing(core_modules())
    assert "feedback.engine.interview" in modules  # the probe really imported the core
    leaked = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert leaked == [], f"the core pulled in {leaked}"


def test_probe_would_notice_a_forbidden_import() -> None:
    """The check is not vacuous: importing the app does load Flask and SQLAlchemy."""
    modules = loaded_after_importing(["feedback.app"])
    assert "flask" in modules and "sqlalchemy" in modules
