"""Reading responses out of the store: JSON objects, pages, CSV rows (read only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from feedback.definition.model import Question
from feedback.store import operations as ops
from feedback.store.models import Answer, Response, SurveyVersion, db

from .params import ResponseFilters, iso

#: Cells that a spreadsheet would run as a formula get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def filtered(stmt: Any, survey_id: str, filters: ResponseFilters) -> Any:
    """``stmt`` (over :class:`Response`) narrowed to one survey and the filters."""
    stmt = stmt.where(Response.survey_id == survey_id)
    if filters.statuses:
        stmt = stmt.where(Response.status.in_(filters.statuses))
    if filters.channels:
        stmt = stmt.where(Response.channel.in_(filters.channels))
    if filters.locales:
        # Compared as locale keys: zh-cn and zh_CN find the zh-CN responses.
        stmt = stmt.where(func.lower(func.replace(Response.locale, "_", "-")).in_(filters.locales))
    if filters.since is not None:
        stmt = stmt.where(Response.started_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Response.started_at < filters.until)
    return stmt


def page(
    survey_id: str, filters: ResponseFilters, *, after: int | None, limit: int
) -> tuple[list[Response], bool]:
    """Up to ``limit`` responses after the id ``after``, oldest first, and whether more follow."""
    stmt = filtered(select(Response), survey_id, filters)
    if after is not None:
        stmt = stmt.where(Response.id > after)
    stmt = stmt.options(selectinload(Response.answers), selectinload(Response.contact))
    rows = list(db.session.scalars(stmt.order_by(Response.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def version_hashes(responses: list[Response]) -> dict[int, str]:
    ids = {r.version_id for r in responses}
    if not ids:
        return {}
    rows = db.session.execute(select(SurveyVersion.id, SurveyVersion.content_hash).where(SurveyVersion.id.in_(ids)))
    return {vid: h for vid, h in rows}


def contact_ref(response: Response) -> str | None:
    """The contact's external id, else its numeric id as text, else None."""
    contact = response.contact
    if contact is None:
        return None if response.contact_id is None else str(response.contact_id)
    return contact.external_id or str(contact.id)


def event_of(response: Response) -> dict[str, Any] | None:
    ctx = response.context or {}
    if not ctx and not response.event_id:
        return None
    return {
        "id": ctx.get("id", response.event_id),
        "type": ctx.get("type"),
        "data": ctx.get("data"),
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "value": answer.value,
        "raw": answer.raw,
        "modality": answer.modality,
        "confidence": answer.confidence,
        "answered_at": iso(answer.answered_at),
        "extra": answer.extra or {},
    }


def response_json(response: Response, versions: dict[int, str]) -> dict[str, Any]:
    return {
        "id": response.id,
        "session_id": response.session_id,
        "survey": response.survey_id,
        "version": versions.get(response.version_id),
        "status": response.status,
        "channel": response.channel,
        "locale": response.locale,
        "contact_id": contact_ref(response),
        "started_at": iso(response.started_at),
        "ended_at": iso(response.ended_at),
        "event": event_of(response),
        "meta": response.meta or {},
        "answers": {a.question_id: answer_json(a) for a in response.answers},
    }


# -- CSV ------------------------------------------------------------------------------------------

CSV_FIXED = (
    "id", "session_id", "survey", "version", "status", "channel", "locale", "contact_id",
    "started_at", "ended_at", "event_id", "event_type",
)


def question_columns(survey_id: str) -> list[Question]:
    """Every question of the survey: the current version's in order, then questions that
    only older versions had (their answers are still in the store)."""
    version, compiled = ops.current_version(survey_id)
    questions = list(compiled.survey.questions)
    seen = {q.id for q in questions}
    older = db.session.scalars(
        select(SurveyVersion.id).where(SurveyVersion.survey_id == survey_id, SurveyVersion.id != version.id)
        .order_by(SurveyVersion.id.desc())
    )
    for vid in older:
        try:
            old = ops.compiled_version(vid)
        except Exception:  # noqa: BLE001 - an unreadable old version only loses its extra columns
            continue
        for q in old.survey.questions:
            if q.id not in seen:
                questions.append(q)
                seen.add(q.id)
    return questions


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def cell(answer: Answer | None) -> str:
    """One answer as a CSV cell: numbers as numbers, yes/no, choices joined with ';'."""
    if answer is None:
        return ""
    value = answer.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return safe_text(str(value))


def safe_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(survey_id: str, filters: ResponseFilters, *, batch: int = 500, bom: bool = False) -> Iterator[str]:
    """The CSV export, one line at a time (the whole result, read in batches)."""
    questions = question_columns(survey_id)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")

    def line(values: list[Any]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue()

    yield ("\ufeff" if bom else "") + line([*CSV_FIXED, *(q.id for q in questions)])
    after: int | None = None
    while True:
        rows, more = page(survey_id, filters, after=after, limit=batch)
        versions = version_hashes(rows)
        for r in rows:
            answers = {a.question_id: a for a in r.answers}
            event = event_of(r) or {}
            contact = contact_ref(r)
            yield line([
                r.id, r.session_id, r.survey_id, versions.get(r.version_id, ""), r.status, r.channel,
                r.locale, safe_text(contact) if contact else "", iso(r.started_at) or "",
                iso(r.ended_at) or "", safe_text(str(event.get("id") or "")), safe_text(str(event.get("type") or "")),
                *(cell(answers.get(q.id)) for q in questions),
            ])
        if not more or not rows:
            break
        after = rows[-1].id
        db.session.expunge_all()
