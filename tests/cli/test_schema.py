"""`feedback schema` prints a JSON Schema that editors can use: it accepts the structure of
every example survey and rejects what the loader rejects for its shape.

The jsonschema package is not a dependency, so a small validator for the keywords the
schema uses is included here; it refuses any keyword it does not know, so the schema
cannot silently grow beyond what is checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from feedback.cli import cli
from feedback.definition.loader import survey_files

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = survey_files([ROOT / "survey_defs"]) + [ROOT / "tests" / "fixtures" / "good" / "all-types.yaml"]
ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated"}


class Validator:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema

    def errors(self, value: Any, schema: dict[str, Any] | bool | None = None, path: str = "$") -> list[str]:
        schema = self.root if schema is None else schema
        if schema is True:
            return []
        if schema is False:
            return [f"{path}: not allowed"]
        out: list[str] = []
        for key, rule in schema.items():
            if key in ANNOTATIONS or key == "$defs":
                continue
            check = getattr(self, "k_" + key.replace("$", ""), None)
            if check is None:
                raise AssertionError(f"the test validator does not know the keyword {key!r}")
            out += check(value, rule, schema, path)
        return out

    # keywords
    def k_ref(self, value: Any, ref: str, schema: dict[str, Any], path: str) -> list[str]:
        assert ref.startswith("#/$defs/"), ref
        return self.errors(value, self.root["$defs"][ref.split("/")[-1]], path)

    def k_type(self, value: Any, kind: str | list[str], schema: dict[str, Any], path: str) -> list[str]:
        kinds = [kind] if isinstance(kind, str) else kind
        checks = {
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "null": lambda v: v is None,
        }
        return [] if any(checks[k](value) for k in kinds) else [f"{path}: not {kind}"]

    def k_properties(self, value: Any, props: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        if not isinstance(value, dict):
            return []
        return [e for k, v in value.items() if k in props for e in self.errors(v, props[k], f"{path}.{k}")]

    def k_patternProperties(self, value: Any, props: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        if not isinstance(value, dict):
            return []
        return [e for k, v in value.items() for p, s in props.items() if re.search(p, k)
                for e in self.errors(v, s, f"{path}.{k}")]

    def k_additionalProperties(self, value: Any, rule: Any, schema: dict[str, Any], path: str) -> list[str]:
        if not isinstance(value, dict):
            return []
        known = set(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = [k for k in value if k not in known and not any(re.search(p, k) for p in patterns)]
        if rule is False:
            return [f"{path}: unknown key {k!r}" for k in extra]
        return [e for k in extra for e in self.errors(value[k], rule, f"{path}.{k}")]

    def k_propertyNames(self, value: Any, rule: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        return [e for k in value for e in self.errors(k, rule, f"{path}[{k!r}]")] if isinstance(value, dict) else []

    def k_required(self, value: Any, names: list[str], schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: missing {n!r}" for n in names if n not in value] if isinstance(value, dict) else []

    def k_minProperties(self, value: Any, n: int, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: too few keys"] if isinstance(value, dict) and len(value) < n else []

    def k_items(self, value: Any, rule: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
        return [e for i, v in enumerate(value) for e in self.errors(v, rule, f"{path}[{i}]")] if isinstance(value, list) else []

    def k_minItems(self, value: Any, n: int, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: fewer than {n} items"] if isinstance(value, list) and len(value) < n else []

    def k_maxItems(self, value: Any, n: int, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: more than {n} items"] if isinstance(value, list) and len(value) > n else []

    def k_uniqueItems(self, value: Any, rule: bool, schema: dict[str, Any], path: str) -> list[str]:
        dumped = [json.dumps(v, sort_keys=True) for v in value] if isinstance(value, list) else []
        return [f"{path}: repeated items"] if rule and len(set(dumped)) != len(dumped) else []

    def k_anyOf(self, value: Any, options: list[Any], schema: dict[str, Any], path: str) -> list[str]:
        return [] if any(not self.errors(value, o, path) for o in options) else [f"{path}: matches no option"]

    def k_oneOf(self, value: Any, options: list[Any], schema: dict[str, Any], path: str) -> list[str]:
        return [] if sum(not self.errors(value, o, path) for o in options) == 1 else [f"{path}: not exactly one option"]

    def k_allOf(self, value: Any, options: list[Any], schema: dict[str, Any], path: str) -> list[str]:
        return [e for o in options for e in self.errors(value, o, path)]

    def k_if(self, value: Any, rule: Any, schema: dict[str, Any], path: str) -> list[str]:
        branch = schema.get("then" if not self.errors(value, rule, path) else "else")
        return [] if branch is None else self.errors(value, branch, path)

    def k_then(self, value: Any, rule: Any, schema: dict[str, Any], path: str) -> list[str]:
        return []  # applied by k_if

    def k_else(self, value: Any, rule: Any, schema: dict[str, Any], path: str) -> list[str]:
        return []  # applied by k_if

    def k_enum(self, value: Any, options: list[Any], schema: dict[str, Any], path: str) -> list[str]:
        return [] if value in options else [f"{path}: {value!r} not one of {options}"]

    def k_const(self, value: Any, const: Any, schema: dict[str, Any], path: str) -> list[str]:
        return [] if value == const and type(value) is type(const) else [f"{path}: not {const!r}"]

    def k_pattern(self, value: Any, pattern: str, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: {value!r} does not match {pattern}"] if isinstance(value, str) and not re.search(pattern, value) else []

    def k_minLength(self, value: Any, n: int, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: too short"] if isinstance(value, str) and len(value) < n else []

    def k_maxLength(self, value: Any, n: int, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: too long"] if isinstance(value, str) and len(value) > n else []

    def _number(self, value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def k_minimum(self, value: Any, n: float, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: below {n}"] if self._number(value) and value < n else []

    def k_maximum(self, value: Any, n: float, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: above {n}"] if self._number(value) and value > n else []

    def k_exclusiveMinimum(self, value: Any, n: float, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: not above {n}"] if self._number(value) and value <= n else []

    def k_exclusiveMaximum(self, value: Any, n: float, schema: dict[str, Any], path: str) -> list[str]:
        return [f"{path}: not below {n}"] if self._number(value) and value >= n else []


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    return json.loads(result.stdout)


def plain(path: Path) -> Any:
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text(encoding="utf-8"))))


def test_it_is_a_draft_2020_12_schema_of_the_survey_format(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) == {"spec_version", "id", "title", "questions"}
    assert {"version", "source", "extensions"}.isdisjoint(schema["properties"])
    question = schema["$defs"]["Question"]
    assert question["properties"]["type"]["enum"] == [
        "nps", "csat", "ces", "rating", "single_choice", "multiple_choice", "yes_no", "number", "text"]
    assert "show_if" in question["properties"] and "description" in question["properties"]["show_if"]
    assert schema["$defs"]["IvrQuestion"]["properties"]["input"]["anyOf"][0]["enum"] == ["dtmf", "speech", "dtmf speech"]


def test_every_field_a_marketer_types_has_a_description(schema: dict[str, Any]) -> None:
    for name in ("Question", "Choice", "Scale", "IvrQuestion"):
        missing = [k for k, v in schema["$defs"][name]["properties"].items() if not v.get("description")]
        assert missing == [], (name, missing)
    assert all(v.get("description") for v in schema["properties"].values())


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_example_surveys_match_the_schema(schema: dict[str, Any], path: Path) -> None:
    assert Validator(schema).errors(plain(path)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.update(show_iff=1), "unknown key 'show_iff'"),
        (lambda s: s["questions"][0].update(type="txt"), "$.questions[0].type: 'txt' not one of"),
        (lambda s: s["questions"][0].update(requird=True), "unknown key 'requird'"),
        (lambda s: s.pop("questions"), "missing 'questions'"),
        (lambda s: s.update(questions=[]), "fewer than 1 items"),
        (lambda s: s.update(spec_version=2), "$.spec_version"),
        (lambda s: s.update(channels=["fax"]), "$.channels[0]"),
        (lambda s: s.update(title={"English": "x"}), "$.title: matches no option"),
        (lambda s: s["questions"][0].update(ivr={"input": "keys"}), "$.questions[0].ivr"),
        (lambda s: s["questions"][0].update(id="Bad Id"), "$.questions[0].id"),
        # per-type rules
        (lambda s: s["questions"][0].update(type="single_choice"), "$.questions[0]: missing 'choices'"),
        (lambda s: s["questions"][0].update(choices=[{"code": "a", "label": "A"}]), "$.questions[0].choices: not allowed"),
        (lambda s: s["questions"][2].update(scale={"min": 1, "max": 5}), "$.questions[2].scale: not allowed"),
        (lambda s: s["questions"][0].update(min=0), "$.questions[0].min: not allowed"),
        (lambda s: s["questions"][0].update(randomize=True), "$.questions[0].randomize: not False"),
        (lambda s: s["questions"][2].update(max_choices=2), "$.questions[2].max_choices: not allowed"),
    ],
)
def test_the_schema_rejects_broken_structure(schema: dict[str, Any], change: Any, expected: str) -> None:
    survey = plain(ROOT / "survey_defs" / "support-call.yaml")
    change(survey)
    errors = Validator(schema).errors(survey)
    assert any(expected in e for e in errors), errors


def test_a_rule_for_one_type_leaves_the_others_alone(schema: dict[str, Any]) -> None:
    survey = plain(ROOT / "survey_defs" / "support-call.yaml")
    survey["questions"][0]["scale"] = {"labels": {"min": "never", "max": "surely"}}  # an nps may relabel
    survey["questions"].append({"id": "n", "type": "number", "text": "N?", "min": 0, "max": 9})
    survey["questions"].append({"id": "m", "type": "multiple_choice", "text": "M?", "randomize": True,
                                "max_choices": 1, "choices": [{"code": "a", "label": "A"}]})
    survey["questions"].append({"id": "t", "type": "text", "text": "T?", "randomize": False})
    assert Validator(schema).errors(survey) == []


def test_the_schema_claims_no_address_it_is_not_published_at(schema: dict[str, Any]) -> None:
    assert "invalid" not in schema.get("$id", "")


def test_schema_can_be_written_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "survey.schema.json"
    result = CliRunner().invoke(cli, ["schema", "-o", str(target)], catch_exceptions=False)
    assert result.exit_code == 0 and result.stdout.strip() == f"wrote {target}"
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "Feedback survey definition, spec_version 1"
