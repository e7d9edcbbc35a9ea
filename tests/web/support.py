"""A small HTML reader and a respondent that fills survey pages through the test client."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class Question:
    qid: str
    hidden: bool = False
    text: str = ""
    error: str = ""
    inputs: list[dict[str, str]] = field(default_factory=list)

    def options(self) -> list[str]:
        return [i.get("value", "") for i in self.inputs if i.get("type") in ("radio", "checkbox")]

    def checked(self) -> list[str]:
        return [i.get("value", "") for i in self.inputs if "checked" in i]


@dataclass
class Page:
    status: int
    html: str
    forms: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, list[str]]:
        return self.forms.get("survey", {})

    def visible(self) -> list[str]:
        return [q.qid for q in self.questions if not q.hidden]

    def question(self, qid: str) -> Question:
        return next(q for q in self.questions if q.qid == qid)

    @property
    def errors(self) -> dict[str, str]:
        return {q.qid: q.error for q in self.questions if q.error}

    @property
    def is_thanks(self) -> bool:
        return 'class="end-state" data-status="complete"' in self.html

    @property
    def is_closed(self) -> bool:
        return "end-state" in self.html and not self.is_thanks


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, dict[str, list[str]]] = {}
        self.actions: dict[str, str] = {}
        self.questions: list[Question] = []
        self.form: str | None = None
        self.q: Question | None = None
        self.capture: str | None = None
        self.depth = 0
        self.q_depth = 0
        self.texts: dict[str, str] = {}
        self.text_key: str | None = None
        self.textarea: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag not in ("input", "br", "meta", "link", "img"):
            self.depth += 1
        cls = a.get("class", "")
        if tag == "form":
            self.form = "survey" if "survey-form" in cls else a.get("id", "other")
            self.forms.setdefault(self.form, {})
            self.actions[self.form] = a.get("action", "")
        if tag == "div" and "question" in cls.split() and "data-qid" in a:
            self.q = Question(a["data-qid"], hidden="hidden" in a)
            self.q_depth = self.depth
            self.questions.append(self.q)
        if self.q is not None and (("q-text" in cls) or tag == "legend"):
            self.capture = "text"
        if self.q is not None and "q-error" in cls:
            self.capture = "error"
        if tag in ("h1", "title") or "lead" in cls.split() or "intro" in cls.split():
            self.text_key = tag if tag in ("h1", "title") else cls.split()[0]
            self.texts.setdefault(self.text_key, "")
        if tag in ("input", "textarea") and self.form is not None:
            if tag == "textarea":
                self.textarea = dict(a, type="textarea", value="")
                return
            self._field(a)

    def _field(self, a: dict[str, str]) -> None:
        name = a.get("name")
        if self.q is not None and name and name != "_q":
            self.q.inputs.append(a)
        if not name or "disabled" in a:
            return
        kind = a.get("type", "text")
        if kind in ("radio", "checkbox") and "checked" not in a:
            self.forms[self.form or ""].setdefault(name, [])
            return
        self.forms[self.form or ""].setdefault(name, []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self.textarea is not None:
            # Like a browser: one newline right after <textarea> is not part of the value.
            value = self.textarea["value"]
            self.textarea["value"] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
            self._field(self.textarea)
            self.textarea = None
        if tag == "form":
            self.form = None
        if tag in ("legend", "label", "p") and self.capture:
            self.capture = None
        if tag in ("h1", "title", "p") and self.text_key:
            self.text_key = None
        if self.q is not None and self.depth == self.q_depth and tag == "div":
            self.q = None
        if tag not in ("input", "br", "meta", "link", "img"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea["value"] += data
        if self.q is not None and self.capture == "text":
            self.q.text += data
        if self.q is not None and self.capture == "error" and data != "!":
            self.q.error += data
        if self.text_key:
            self.texts[self.text_key] += data


def read_page(status: int, html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    for q in reader.questions:
        q.text = re.sub(r"\s+", " ", q.text).strip()
        q.error = q.error.strip()
    texts = {k: re.sub(r"\s+", " ", v).strip() for k, v in reader.texts.items()}
    return Page(status, html, reader.forms, reader.actions, reader.questions, texts)


class Respondent:
    """Opens a survey link and answers it page by page, like a browser without scripts."""

    def __init__(self, client: Any, url: str, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.url = url
        self.headers = headers or {}
        self.page: Page | None = None

    def open(self, url: str | None = None, **kw: Any) -> Page:
        resp = self.client.get(url or self.url, headers=self.headers, **kw)
        if resp.status_code in (301, 302, 303):
            resp = self.client.get(resp.headers["Location"], headers=self.headers)
        self.page = read_page(resp.status_code, resp.get_data(as_text=True))
        return self.page

    def submit(self, answers: dict[str, Any] | None = None, *, form: str = "survey",
               drop: tuple[str, ...] = (), follow: bool = True) -> Page:
        """Post the current page's form with ``answers`` (question id -> value or list)."""
        assert self.page is not None
        data: dict[str, Any] = {k: list(v) for k, v in self.page.forms[form].items()}
        for qid, value in (answers or {}).items():
            data[f"q_{qid}"] = value if isinstance(value, list) else [str(value)]
        for name in drop:
            data.pop(name, None)
        action = self.page.actions.get(form) or self.url
        resp = self.client.post(action, data=data, headers=self.headers)
        self.last_post = resp
        if follow and resp.status_code == 303:
            resp = self.client.get(resp.headers["Location"], headers=self.headers)
        self.page = read_page(resp.status_code, resp.get_data(as_text=True))
        return self.page

    def back(self) -> Page:
        return self.submit(form="back-form")

    def current(self) -> list[str]:
        assert self.page is not None
        return self.page.visible()
