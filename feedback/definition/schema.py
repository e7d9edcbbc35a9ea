"""The published JSON Schema of the survey format, for editors (``feedback schema``)."""

from __future__ import annotations

from typing import Any

from .model import Survey


def json_schema() -> dict[str, Any]:
    schema = Survey.model_json_schema(mode="validation")
    props = schema.get("properties", {})
    for internal in ("version", "source", "extensions"):
        props.pop(internal, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://feedback.invalid/schema/survey-v1.json"
    schema["title"] = "Feedback survey definition, spec_version 1"
    schema["description"] = (
        "One survey for every channel (web, email, IVR, SMS, chat). "
        "Text is a plain string or a map of locale to text."
    )
    from .loader import EXTENSION_SECTIONS, import_extensions

    import_extensions()
    for key, checker in EXTENSION_SECTIONS.items():
        props.setdefault(key, getattr(checker, "json_schema", None) or {"description": f"the {key} section"})
    return schema
