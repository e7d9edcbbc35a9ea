"""Headline metrics of one survey, computed by SQL over the typed answer columns.

* NPS: % promoters (9-10) minus % detractors (0-6), with the three counts.
* CSAT: % of answers that are satisfied (4 or 5 on the 1-5 scale), with the count.
* CES and ratings: the mean, and the distribution over the scale's points.
* Yes/no, single and multiple choice: counts per answer; numbers: mean, min and max.

Answers of every response count (partial ones too) unless the ``status`` filter says
otherwise; the other response filters of the API apply as well.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import exists, func, or_, select

from feedback.definition.model import Question
from feedback.store.models import Answer, Response, db

from .params import ResponseFilters
from .responses import filtered, question_columns


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(float(value), places)


def _answers(survey_id: str, qid: str, filters: ResponseFilters) -> Any:
    """A select over the answers to ``qid`` of the responses the filters keep."""
    responses = filtered(select(Response.id), survey_id, filters)
    return Answer.question_id == qid, Answer.survey_id == survey_id, Answer.response_id.in_(responses)


def _distribution(survey_id: str, q: Question, filters: ResponseFilters) -> Counter[int]:
    where = _answers(survey_id, q.id, filters)
    rows = db.session.execute(
        select(Answer.value_number, func.count()).where(*where, Answer.value_number.is_not(None)).group_by(Answer.value_number)
    )
    out: Counter[int] = Counter()
    for value, count in rows:
        if value is not None:
            out[int(round(value))] += int(count)
    return out


def _scale_metrics(survey_id: str, q: Question, filters: ResponseFilters) -> dict[str, Any]:
    lo, hi = q.scale_range or (1, 5)
    dist = _distribution(survey_id, q, filters)
    n = sum(dist.values())
    total = sum(v * c for v, c in dist.items())
    out: dict[str, Any] = {"type": q.type, "count": n}
    if q.type == "nps":
        promoters = sum(c for v, c in dist.items() if v >= 9)
        detractors = sum(c for v, c in dist.items() if v <= 6)
        out.update(
            nps=_round(100.0 * (promoters - detractors) / n, 1) if n else None,
            promoters=promoters,
            passives=n - promoters - detractors,
            detractors=detractors,
        )
    elif q.type == "csat":
        satisfied = sum(c for v, c in dist.items() if v >= 4)
        out.update(csat=_round(100.0 * satisfied / n, 1) if n else None, satisfied=satisfied)
    out["mean"] = _round(total / n) if n else None
    out["distribution"] = {str(v): dist.get(v, 0) for v in range(lo, hi + 1)}
    return out


def question_metrics(survey_id: str, q: Question, filters: ResponseFilters) -> dict[str, Any]:
    if q.scale_range is not None:
        return _scale_metrics(survey_id, q, filters)
    where = _answers(survey_id, q.id, filters)
    if q.type == "yes_no":
        rows = db.session.execute(
            select(Answer.value_bool, func.count()).where(*where, Answer.value_bool.is_not(None)).group_by(Answer.value_bool)
        )
        counts = {"yes": 0, "no": 0}
        for value, count in rows:
            counts["yes" if value else "no"] += int(count)
        return {"type": q.type, "count": counts["yes"] + counts["no"], "counts": counts}
    if q.type == "single_choice":
        counts = {code: 0 for code in q.choice_codes}
        text_rows = db.session.execute(
            select(Answer.value_text, func.count()).where(*where, Answer.value_text.is_not(None)).group_by(Answer.value_text)
        )
        for code, count in text_rows:
            counts[str(code)] = counts.get(str(code), 0) + int(count)
        return {"type": q.type, "count": sum(counts.values()), "counts": counts}
    if q.type == "multiple_choice":
        counts = {code: 0 for code in q.choice_codes}
        n = 0
        for picked in db.session.scalars(select(Answer.value_json).where(*where).execution_options(yield_per=1000)):
            if not isinstance(picked, list):
                continue
            n += 1
            for code in picked:
                counts[str(code)] = counts.get(str(code), 0) + 1
        return {"type": q.type, "count": n, "counts": counts}
    if q.type == "number":
        n, mean, low, high = db.session.execute(
            select(func.count(Answer.value_number), func.avg(Answer.value_number), func.min(Answer.value_number),
                   func.max(Answer.value_number)).where(*where)
        ).one()
        return {"type": q.type, "count": int(n or 0), "mean": _round(mean), "min": _round(low), "max": _round(high)}
    total = db.session.scalar(select(func.count()).select_from(Answer).where(*where))
    return {"type": q.type, "count": int(total or 0)}


def _counted(stmt: Any) -> Any:
    """Responses as metrics count them: a partial response with no answer yet (a survey
    opened and not answered, a message not replied to yet) is not a response."""
    answered = exists().where(Answer.response_id == Response.id)
    return stmt.where(or_(Response.status != "partial", answered))


def survey_metrics(survey_id: str, filters: ResponseFilters) -> dict[str, Any]:
    by_status = {s: 0 for s in ("complete", "partial", "abandoned")}
    for status, count in db.session.execute(
        _counted(filtered(select(Response.status, func.count()), survey_id, filters)).group_by(Response.status)
    ):
        by_status[status] = by_status.get(status, 0) + int(count)
    by_channel: dict[str, int] = {}
    for channel, count in db.session.execute(
        _counted(filtered(select(Response.channel, func.count()), survey_id, filters))
        .group_by(Response.channel).order_by(Response.channel)
    ):
        by_channel[channel] = int(count)
    return {
        "responses": {"total": sum(by_status.values()), "by_status": by_status, "by_channel": by_channel},
        "questions": {q.id: question_metrics(survey_id, q, filters) for q in question_columns(survey_id)},
    }
