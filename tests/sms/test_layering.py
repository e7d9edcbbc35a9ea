"""Only the operations layer commits (DESIGN §2.4): the SMS, chat and IVR adapters call
store functions (feedback.store.messaging / calls / operations) that commit; they never
commit themselves."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = [
    *sorted((ROOT / "channels" / "sms").glob("*.py")),
    *sorted((ROOT / "channels" / "chat").glob("*.py")),
    *(ROOT / "channels" / "ivr" / f"{name}.py" for name in ("views", "twiml", "voices", "urls", "cli")),
    ROOT / "channels" / "telephony.py",
]
COMMITS = {"commit", "commit_keeping"}


def commits_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in COMMITS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(fn)}()")
    return found


def test_channel_adapters_never_commit() -> None:
    assert all(p.exists() for p in ADAPTERS)
    found = [line for p in ADAPTERS for line in commits_in(p)]
    assert found == [], "\n".join(found)
