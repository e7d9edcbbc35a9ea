"""``/api/v1``: surveys, their responses (JSON pages or a CSV stream) and their metrics.

Every endpoint needs ``Authorization: Bearer <key>``. Mistakes in a request get a 400
JSON error naming the parameter; an unknown survey gets a 404 JSON error.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, stream_with_context

from feedback.definition.loader import CompiledSurvey
from feedback.definition.model import Question
from feedback.store import operations as ops
from feedback.store.operations import VersionRef

from . import bp, metrics, params
from . import responses as rs
from .auth import require_api_key


def _question_json(compiled: CompiledSurvey, q: Question) -> dict[str, Any]:
    survey = compiled.survey
    out: dict[str, Any] = {
        "id": q.id,
        "type": q.type,
        "text": survey.text(q.text, survey.default_locale),
        "required": q.required,
    }
    if q.scale_range is not None:
        out["scale"] = {"min": q.scale_range[0], "max": q.scale_range[1]}
    if q.choices:
        out["choices"] = [{"code": c.code, "label": survey.text(c.label, survey.default_locale)} for c in q.choices]
    if q.show_if:
        out["show_if"] = q.show_if
    return out


def survey_json(version: VersionRef, compiled: CompiledSurvey) -> dict[str, Any]:
    s = compiled.survey
    return {
        "id": s.id,
        "title": s.text(s.title, s.default_locale),
        "version": version.content_hash,
        "channels": list(s.channels),
        "locales": list(s.all_locales),
        "default_locale": s.default_locale,
        "questions": [_question_json(compiled, q) for q in s.questions],
    }


@bp.get("/surveys")
@require_api_key
def list_surveys() -> Any:
    out = []
    for survey in ops.active_surveys():
        version, compiled = ops.current_version(survey.id)
        out.append(survey_json(version, compiled))
    return jsonify(surveys=out)


@bp.get("/surveys/<survey_id>")
@require_api_key
def get_survey(survey_id: str) -> Any:
    version, compiled = ops.current_version(survey_id)
    return jsonify(survey_json(version, compiled))


@bp.get("/surveys/<survey_id>/responses")
@require_api_key
def list_responses(survey_id: str) -> Any:
    ops.current_version(survey_id)  # 404 for an unknown survey
    args = request.args
    fmt = params.output_format(args)
    filters = params.response_filters(args)
    if fmt == "csv":
        bom = (args.get("bom") or "").lower() in ("1", "true", "yes")
        lines = rs.csv_rows(survey_id, filters, bom=bom)
        first = next(lines)  # problems surface before the response starts
        stream = stream_with_context(_chain(first, lines))
        resp = Response(stream, mimetype="text/csv")
        resp.headers["Content-Type"] = "text/csv; charset=utf-8"
        resp.headers["Content-Disposition"] = f'attachment; filename="{survey_id}-responses.csv"'
        return resp
    limit = params.limit(args)
    after = params.read_cursor(args, survey_id)
    rows, more = rs.page(survey_id, filters, after=after, limit=limit)
    versions = rs.version_hashes(rows)
    return jsonify(
        survey=survey_id,
        responses=[rs.response_json(r, versions) for r in rows],
        next_cursor=params.make_cursor(survey_id, rows[-1].id) if more and rows else None,
    )


def _chain(first: str, rest: Any) -> Any:
    yield first
    yield from rest


@bp.get("/surveys/<survey_id>/metrics")
@require_api_key
def survey_metrics(survey_id: str) -> Any:
    version, _compiled = ops.current_version(survey_id)
    filters = params.response_filters(request.args)
    body = {"survey": survey_id, "version": version.content_hash, "filters": filters.as_dict()}
    body.update(metrics.survey_metrics(survey_id, filters))
    return jsonify(body)
