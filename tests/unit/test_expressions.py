"""Tests of the survey condition language (feedback.definition.expressions)."""

from __future__ import annotations

import dataclasses
import math
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from feedback.definition.expressions import (
    MAX_NESTING,
    AnswerInfo,
    Binary,
    BoolOp,
    Call,
    Expression,
    ExpressionError,
    ListExpr,
    Literal,
    Node,
    Problem,
    QuestionRef,
    Ref,
    TypeEnv,
    Unary,
    ValueType,
    answer_info,
    check,
    compile_expression,
    parse,
)
from feedback.errors import FeedbackError

N, B, S, L, A = ValueType.NUMBER, ValueType.BOOL, ValueType.STRING, ValueType.LIST, ValueType.ANY

ENV = TypeEnv(
    answers={
        "nps": AnswerInfo(N),
        "speed": AnswerInfo(N),
        "price": AnswerInfo(N),
        "resolved": AnswerInfo(B),
        "reason": AnswerInfo(S),
        "topic": AnswerInfo(S, frozenset({"billing", "delivery", "other"})),
        "topics": AnswerInfo(L, frozenset({"billing", "delivery", "other"})),
    },
    later=frozenset({"follow_up", "final"}),
)
TRIGGER_ENV = TypeEnv(
    answers={}, allow_answers=False, allowed_roots=frozenset({"contact", "event"})
)


def sexpr(node: Node) -> str:
    """A compact rendering of the tree, to assert on structure."""
    match node:
        case Literal(value=value):
            return repr(value)
        case ListExpr(items=items):
            return "[" + " ".join(sexpr(i) for i in items) + "]"
        case Ref():
            return node.dotted
        case QuestionRef(qid=qid):
            return f"?{qid}"
        case Unary(op=op, operand=operand):
            return f"({op} {sexpr(operand)})"
        case Binary(op=op, left=left, right=right):
            return f"({op} {sexpr(left)} {sexpr(right)})"
        case BoolOp(op=op, operands=operands):
            return f"({op} " + " ".join(sexpr(o) for o in operands) + ")"
        case Call(func=func, args=args):
            return f"{func}(" + " ".join(sexpr(a) for a in args) + ")"
    raise AssertionError(node)


def tree(source: str) -> str:
    return sexpr(parse(source).node)


def ev(source: str, **scope: Any) -> Any:
    return parse(source).evaluate(scope)


def problems(source: str, env: TypeEnv = ENV) -> list[tuple[str, int]]:
    expr, found = compile_expression(source, env)
    return [(p.message, p.offset) for p in found]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("answers.nps <= 6", "(<= answers.nps 6)"),
        ("a or b and c", "(or a (and b c))"),
        ("a and b or c and d", "(or (and a b) (and c d))"),
        ("a or b or c", "(or a b c)"),
        ("not a == b", "(not (== a b))"),
        ("not a and b", "(and (not a) b)"),
        ("not not a", "(not (not a))"),
        ("1 + 2 * 3", "(+ 1 (* 2 3))"),
        ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b % c * d", "(* (% (/ a b) c) d)"),
        ("-x * 3", "(* (- x) 3)"),
        ("-2 * 3", "(* -2 3)"),
        ("- -2.5", "2.5"),
        ("a + b >= 8", "(>= (+ a b) 8)"),
        ("x in [1, 2]", "(in x [1 2])"),
        ("x not in [1, 2,]", "(not in x [1 2])"),
        ("not x in []", "(not (in x []))"),
        ('"billing" in answers.topics', "(in 'billing' answers.topics)"),
        ("event.data.queue == 'q'", "(== event.data.queue 'q')"),
        ("answers.resolved == false", "(== answers.resolved False)"),
        ("True != None", "(!= True None)"),
        ("true == null", "(== True None)"),
        ("not answered(reason)", "(not answered(?reason))"),
        ("answered(answers.reason)", "answered(?reason)"),
        (
            'selected(topic, "billing") or contact.tier == "gold"',
            "(or selected(?topic 'billing') (== contact.tier 'gold'))",
        ),
        ("answered()", "answered()"),
        ("[[1], [], 'a']", "[[1] [] 'a']"),
        ("((channel))", "channel"),
        ("a.in.not", "a.in.not"),
    ],
)
def test_parse_structure_and_precedence(source: str, expected: str) -> None:
    assert tree(source) == expected


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("42", 42),
        ("3.25", 3.25),
        ('"double"', "double"),
        ("'single'", "single"),
        (r'"a \"quoted\" word"', 'a "quoted" word'),
        (r"'it\'s'", "it's"),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\tnew\nline\r"', "tab\tnew\nline\r"),
        (r'"caf\u00e9"', "café"),
        ('"中文"', "中文"),
        ('"it\'s"', "it's"),
        ("False", False),
        ("None", None),
    ],
)
def test_literals(source: str, value: Any) -> None:
    node = parse(source).node
    assert isinstance(node, Literal)
    assert node.value == value and type(node.value) is type(value)


def test_offsets_in_tree() -> None:
    node = parse("answers.nps  <= 6").node
    assert isinstance(node, Binary) and node.offset == 13
    assert isinstance(node.left, Ref) and node.left.offset == 0 and node.left.path_offsets == (8,)
    assert isinstance(node.right, Literal) and node.right.offset == 16


def test_expression_is_immutable_and_hashable() -> None:
    expr = parse("answers.nps > 5")
    with pytest.raises(AttributeError):
        expr.source = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        expr.node.op = "<"  # type: ignore[misc,union-attr]
    assert expr == parse("answers.nps > 5") and hash(expr) == hash(parse("answers.nps > 5"))
    assert str(expr) == "answers.nps > 5"


PARSE_ERRORS = [
    ("", "the condition is empty", 0),
    ("   ", "the condition is empty", 0),
    ("a and", "expected a value after 'and'", 5),
    ("a and or b", "expected a value after 'and' but found 'or'", 6),
    ("not", "expected a value after 'not'", 3),
    ("1 +", "expected a value after '+'", 3),
    ("== 1", "expected a value but found '=='", 0),
    ("(a == 1", "unclosed parenthesis", 0),
    ("x and (a == 1 b)", "expected ')' but found 'b'", 14),
    ("a == 1)", "')' without a matching '('", 6),
    ("[1, 2", "unclosed '['", 0),
    ("[1 2]", "expected ',' or ']' but found '2'", 3),
    ("answerd(reason)", "unknown function 'answerd'; did you mean 'answered'?", 0),
    ("x or selectd(topic, 'a')", "unknown function 'selectd'; did you mean 'selected'?", 5),
    ("frobnicate(x)", "unknown function 'frobnicate'", 0),
    ("answers.nps = 5", "'=' is not an operator; did you mean '=='?", 12),
    ("a => 1", "'=>' is not an operator; did you mean '>='?", 2),
    ("a =< 1", "'=<' is not an operator; did you mean '<='?", 2),
    ("a <> 1", "'<>' is not an operator; did you mean '!='?", 2),
    ("a && b", "'&&' is not an operator; did you mean 'and'?", 2),
    ("a || b", "'||' is not an operator; did you mean 'or'?", 2),
    ("a & b", "'&' is not an operator; did you mean 'and'?", 2),
    ("!a", "'!' is not an operator; use 'not' (or '!=' for 'is not equal to')", 0),
    ("a == 1 AND b", "unexpected 'AND'; did you mean 'and'?", 7),
    ("a not b", "unexpected 'not'; did you mean 'not in'?", 2),
    ("a 5", "unexpected '5'; expected an operator such as '==', 'and' or 'or'", 2),
    ("1 < x < 5", "comparisons cannot be chained", 6),
    ("a in b not in c", "comparisons cannot be chained", 7),
    ('"abc', 'unclosed text: add a closing "', 0),
    ("x == 'abc", "unclosed text: add a closing '", 5),
    ('"abc\\', 'unclosed text: add a closing "', 0),
    (r'"a\qb"', "unknown escape '\\q' in text", 2),
    (r'"\u12"', "'\\u' must be followed by 4 hexadecimal digits", 1),
    ("a # b", "unexpected character '#'", 2),
    ("\u201cgold\u201d", "curly quotes are not allowed", 0),
    ("answers.", "expected a question id after '.'", 8),
    ("contact.tier.", "expected a field name after '.'", 13),
    ("answers.nps(1)", "'answers.nps' is not a function", 11),
    ('answered("reason")', "answered() needs a question id as its first argument", 9),
    ("answered(contact.tier)", "answered() needs a question id as its first argument", 9),
    ("selected(1, 'a')", "selected() needs a question id as its first argument", 9),
    ("answered(reason", "unclosed parenthesis in answered()", 8),
    ("answered(reason x)", "expected ',' or ')' but found 'x'", 16),
    ("1" * 101, "this number is too long", 0),
]


@pytest.mark.parametrize(("source", "message", "offset"), PARSE_ERRORS)
def test_parse_errors(source: str, message: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert info.value.message.startswith(message)
    assert info.value.offset == offset
    assert str(info.value) == info.value.message


@pytest.mark.parametrize(("source", "message", "offset"), PARSE_ERRORS[:5])
def test_compile_returns_syntax_error_as_problem(source: str, message: str, offset: int) -> None:
    expr, found = compile_expression(source, ENV)
    assert expr is None
    assert len(found) == 1 and found[0].message.startswith(message) and found[0].offset == offset


def test_expression_error_fits_the_hierarchy_and_pickles() -> None:
    error = ExpressionError("boom", 3)
    assert isinstance(error, FeedbackError) and isinstance(error, Exception)
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.offset) == ("boom", 3)


def test_nesting_and_length_limits() -> None:
    deep = "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse(deep)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("not " * 500 + "true")
    with pytest.raises(ExpressionError, match="too long"):
        parse(" + ".join(["1"] * 1000))
    assert parse("(" * 10 + "1" + ")" * 10).evaluate({}) == 1
    assert parse(" and ".join(["true"] * 1000)).test({})  # and/or chains are flat


def test_parse_rejects_non_text() -> None:
    with pytest.raises(ExpressionError):
        parse(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- evaluation

SCOPE = {
    "answers": {
        "nps": 4,
        "speed": 3,
        "price": 5.5,
        "resolved": False,
        "reason": "Slow reply",
        "topic": "billing",
        "topics": ["billing", "delivery"],
        "skipped": None,
        "none_picked": [],
    },
    "contact": {"tier": "gold", "age": 41, "tags": ["vip"], "address": {"city": "Lyon"}},
    "event": {"queue": "billing", "data": {"queue": "sales", "wait": 12.5}},
    "channel": "sms",
    "locale": "en",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # arithmetic
        ("answers.speed + answers.price", 8.5),
        ("answers.nps - 10", -6),
        ("answers.nps * 2.5", 10.0),
        ("answers.nps / 8", 0.5),
        ("7 % 3", 1),
        ("-answers.nps", -4),
        ("2 + 3 * 4 - 6 / 2", 11.0),
        ("(2 + 3) * 4", 20),
        # comparisons
        ("answers.nps == 4", True),
        ("answers.nps == 4.0", True),
        ("answers.nps != 4", False),
        ("answers.nps != 5", True),
        ("answers.nps < 5", True),
        ("answers.nps <= 4", True),
        ("answers.nps > 4", False),
        ("answers.nps >= 4", True),
        ("answers.reason == 'Slow reply'", True),
        ("answers.reason == 'slow reply'", False),
        ("'a' < 'b'", True),
        ("'B' < 'a'", True),
        ("answers.resolved == false", True),
        ("answers.resolved != true", True),
        ("answers.topics == ['delivery', 'billing']", True),
        ("answers.topics == ['billing']", False),
        ("[1, 2] == [1, 2.0]", True),
        ("[1, 2] == [2, 1]", False),
        # membership
        ("channel in ['web', 'sms']", True),
        ("channel not in ['web', 'sms']", False),
        ("locale not in ['zh-CN']", True),
        ("'billing' in answers.topics", True),
        ("'other' in answers.topics", False),
        ("'other' not in answers.topics", True),
        ("answers.nps in [4.0, 5]", True),
        ("'vip' in contact.tags", True),
        ("'reply' in answers.reason", True),
        ("'Reply' in answers.reason", False),
        # names and paths
        ("event.data.queue", "sales"),
        ("event.data.wait > 10", True),
        ("contact.address.city == 'Lyon'", True),
        ("contact.address.zip", None),
        ("contact.tier.name", None),
        ("event.missing.deeper", None),
        ("channel", "sms"),
        # logic
        ("answers.resolved == false and channel in ['web', 'sms']", True),
        ("answers.nps > 6 or contact.tier == 'gold'", True),
        ("answers.nps > 6 and contact.tier == 'gold'", False),
        ("not answers.resolved", True),
        ("event.queue == 'billing' and contact.tier != 'test'", True),
        ("answers.speed + answers.price >= 8", True),
        # functions
        ("answered(reason)", True),
        ("answered(answers.nps)", True),
        ("answered(skipped)", False),
        ("answered(missing)", False),
        ("answered(none_picked)", False),
        ("answered(resolved)", True),
        ("selected(topic, 'billing')", True),
        ("selected(topic, 'Billing')", False),
        ("selected(topics, 'delivery')", True),
        ("selected(topics, 'other')", False),
        ("selected(skipped, 'x')", False),
        ("selected(topic, contact.tier)", False),
        ("selected(topic, event.queue)", True),
    ],
)
def test_evaluate(source: str, expected: Any) -> None:
    result = parse(source).evaluate(SCOPE)
    assert result == expected and type(result) is type(expected)


NULL = {"answers": {"nps": None}, "contact": {}}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("answers.nps == 5", False),
        ("answers.nps != 5", False),
        ("5 != answers.nps", False),
        ("answers.nps < 5", False),
        ("answers.nps <= 5", False),
        ("answers.nps > 5", False),
        ("answers.nps >= 5", False),
        ("answers.nps == null", False),
        ("null == null", False),
        ("null != null", False),
        ("answers.nps in [1, null]", False),
        ("answers.nps not in [1, 2]", False),
        ("1 in answers.nps", False),
        ("1 not in answers.nps", False),
        ("contact.tags not in ['a']", False),
        ("answers.nps + 1", None),
        ("1 - answers.nps", None),
        ("answers.nps * 2", None),
        ("-answers.nps", None),
        ("answers.nps / 0", None),
        ("answers.nps and true", False),
        ("answers.nps or true", True),
        ("answers.nps or false", False),
        ("not answers.nps", True),
        ("not (answers.nps > 5)", True),  # documented: null comparisons are false, so not is true
        ("not (answers.nps <= 5)", True),
        ("answered(nps)", False),
        ("not answered(nps)", True),
        ("contact.tier == 'gold'", False),
        ("contact.tier != 'test'", False),
        ("event.queue == 'x'", False),  # no event at all
        ("answers.missing == 1", False),
        ("channel == 'sms'", False),  # no channel in scope
    ],
)
def test_null_semantics(source: str, expected: Any) -> None:
    result = parse(source).evaluate(NULL)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 / 0", None),
        ("1 % 0", None),
        ("1.5 / 0.0", None),
        ("true == 1", False),
        ("true != 1", False),  # bools are not numbers: incomparable, hence false
        ("false == 0", False),
        ("true + 1", None),
        ("contact.tier > 3", False),
        ("contact.tier == 3", False),
        ("contact.tier != 3", False),
        ("contact.age < 'x'", False),
        ("'a' + 'b'", None),
        ("[1] + [2]", None),
        ("[1] < [2]", False),
        ("true < false", False),
        ("-'x'", None),
        ("1 in 1", False),
        ("1 not in 1", False),
        ("1 in 'abc'", False),
        ("'a' in contact", False),
        ("contact == contact", False),
        ("[1, 'a'] == [1, 'a']", True),
        ("[1, 'a'] == ['a', 1]", False),
        ("[true] == [1]", False),
        ("1 in [true]", False),
    ],
)
def test_runtime_type_mismatches_are_false_or_null(source: str, expected: Any) -> None:
    result = parse(source).evaluate(SCOPE)
    assert result == expected and type(result) is type(expected)


def test_arithmetic_overflow_gives_null() -> None:
    big = "9" * 100
    assert parse(f"{big} * {big} * {big} * {big} / 3").evaluate({}) is None
    assert parse(f"{big} * {big} * {big} * {big} * 1.5").evaluate({}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (0, False),
        (0.0, False),
        (3, True),
        ("", False),
        ("x", True),
        ([], False),
        (["a"], True),
        (True, True),
        (False, False),
        ({}, False),
    ],
)
def test_test_coerces_to_bool(value: Any, expected: bool) -> None:
    result = parse("contact.x").test({"contact": {"x": value}})
    assert result is expected


def test_evaluate_tolerates_odd_scopes() -> None:
    expr = parse("answers.nps > 5 or contact.tier == 'gold' or answered(nps)")
    for scope in ({}, {"answers": None}, {"answers": [1, 2]}, {"contact": "gold"}, None, 42):
        assert expr.evaluate(scope) is False  # type: ignore[arg-type]
    assert parse("answers.topics == ['a']").evaluate({"answers": {"topics": ("a",)}}) is True


def test_and_or_short_circuit_to_bools() -> None:
    assert ev("1 and 'x'") is True
    assert ev("0 or ''") is False


def test_references() -> None:
    expr = parse(
        "answers.nps > 5 and answered(reason) or selected(answers.topic, 'x') "
        "and contact.nps == 1 and nps == 2 and event.answers == 3"
    )
    assert expr.references() == frozenset({"nps", "reason", "topic"})
    assert parse("channel == 'sms'").references() == frozenset()


# --------------------------------------------------------------------------- static checks


@pytest.mark.parametrize(
    "source",
    [
        "answers.nps <= 6",
        "answers.resolved == false and channel in ['web', 'sms']",
        "not answered(reason)",
        'selected(topic, "billing") or contact.tier == "gold"',
        "answers.speed + answers.price >= 8",
        'event.queue == "billing" and contact.tier != "test"',
        '"billing" in answers.topics',
        "answers.topic in ['billing', 'other']",
        "answers.topic != 'delivery'",
        "answers.topics == ['billing', 'other']",
        "'slow' in answers.reason",
        "answers.nps in [9, 10]",
        "selected(answers.topics, 'other')",
        "contact.score > answers.nps * 2",
        "contact.tier == 3 and event.flag == true and event.x < 'b' and event.list in event.y",
        "-event.x % contact.y > 1",
        "locale == 'zh-CN' and channel != 'ivr'",
        "answers.reason == 'n/a'",
        "(answers.nps > 5) == true",
    ],
)
def test_valid_conditions_have_no_problems(source: str) -> None:
    expr, found = compile_expression(source, ENV)
    assert isinstance(expr, Expression) and found == []


STATIC_PROBLEMS = [
    # names
    ("chanel == 'sms'", "unknown name 'chanel'; did you mean 'channel'?", 0),
    ("true and contcat.tier == 'a'", "unknown name 'contcat'; did you mean 'contact'?", 9),
    ("nps > 6", "unknown name 'nps'; did you mean 'answers.nps'?", 0),
    ("npss > 6", "unknown name 'npss'; did you mean 'answers.nps'?", 0),
    ("TRUE", "unknown name 'TRUE'; did you mean 'true'?", 0),
    (
        "zzz",
        "unknown name 'zzz'; a condition can use answers, channel, contact, event or locale",
        0,
    ),
    ("answers == 1", "'answers' must be followed by a question id, e.g. answers.nps", 0),
    ("contact == 'x'", "'contact' must be followed by a field name, e.g. contact.tier", 0),
    ("channel.name == 'sms'", "'channel' has no fields; it is text such as \"sms\"", 8),
    ("answers.nps.value > 1", "an answer has no fields: remove '.value'", 12),
    # answer ids
    ("answers.npss > 6", "unknown question 'npss'; did you mean 'nps'?", 8),
    ("answers.zebra > 6", "unknown question 'zebra'", 8),
    (
        "answers.final == 1",
        "'final' is asked later (or is this question); a condition can only use earlier answers",
        8,
    ),
    (
        "answered(follow_up)",
        "'follow_up' is asked later (or is this question); a condition can only use earlier answers",
        9,
    ),
    ("not answered(reasn)", "unknown question 'reasn'; did you mean 'reason'?", 13),
    # types
    ('answers.nps == "high"', 'answers.nps is a number but is compared with the text "high"', 15),
    ('"high" == answers.nps', 'answers.nps is a number but is compared with the text "high"', 0),
    (
        "answers.resolved == 1",
        "answers.resolved is yes/no (true or false) but is compared with the number 1; use true or false",
        20,
    ),
    (
        "answers.resolved == 'yes'",
        'answers.resolved is yes/no (true or false) but is compared with the text "yes"; '
        "use true or false",
        20,
    ),
    (
        "answers.nps == answers.reason",
        "answers.nps is a number but is compared with answers.reason, which is text",
        15,
    ),
    ("answers.nps == true", "answers.nps is a number but is compared with true", 15),
    (
        "answers.topics == 'billing'",
        "answers.topics is a multiple choice (a list of codes) but is compared with the text "
        '"billing"; use selected(topics, "billing")',
        18,
    ),
    ("channel == 5", "channel is text but is compared with the number 5", 11),
    (
        "answers.resolved > 0",
        "'>' compares numbers, but answers.resolved is yes/no (true or false)",
        0,
    ),
    (
        "1 <= answers.topics",
        "'<=' compares numbers, but answers.topics is a multiple choice (a list of codes)",
        5,
    ),
    ("answers.topic < 'm'", "'<' compares numbers, but answers.topic is a single choice", 0),
    ("answers.reason >= 'm'", "'>=' compares numbers, but answers.reason is text", 0),
    ("answers.nps > 'm'", 'answers.nps is a number but is compared with the text "m"', 14),
    ("answers.topic + 1", "'+' needs numbers, but answers.topic is a single choice", 0),
    ("2 * answers.reason > 1", "'*' needs numbers, but answers.reason is text", 4),
    ("-answers.resolved", "'-' needs numbers, but answers.resolved is yes/no (true or false)", 1),
    ("'a' + 1 == 2", "'+' needs numbers, but the text \"a\" is text", 0),
    ("answers.nps * null > 1", "'*' with null always gives null", 14),
    (
        "answers.nps == null",
        "'==' with null is always false; use answered(nps) or not answered(nps) to test for an answer",
        15,
    ),
    (
        "contact.tier != null",
        "'!=' with null is always false (a missing value is never equal, or unequal, to anything)",
        16,
    ),
    (
        "null < 3",
        "'<' with null is always false (a missing value is never equal, or unequal, to anything)",
        0,
    ),
    ("null in [1]", "'in' with null is always false", 0),
    ("answers.nps in ['a']", 'answers.nps is a number but is compared with the text "a"', 16),
    ("answers.nps in 5", "'in' needs a list on the right, but the number 5 is a number", 15),
    (
        "'x' in answers.topic",
        "'in' needs a list on the right, but answers.topic is a single choice; use == instead",
        7,
    ),
    (
        "5 in answers.topics",
        "answers.topics holds choice codes (text) and cannot contain the number 5",
        0,
    ),
    ("5 in channel", "'in' looks for a piece of text in channel, not the number 5", 0),
    (
        "answers.topics in ['a']",
        "answers.topics is a list; 'in' tests a single value; use selected(topics, ...)",
        0,
    ),
    # choice codes
    ("answers.topic == 'biling'", "'topic' has no choice 'biling'; did you mean 'billing'?", 17),
    ("'biling' == answers.topic", "'topic' has no choice 'biling'; did you mean 'billing'?", 0),
    (
        "answers.topic != 'xyz'",
        "'topic' has no choice 'xyz' (its choices are billing, delivery or other)",
        17,
    ),
    (
        "answers.topic in ['billing', 'delivry']",
        "'topic' has no choice 'delivry'; did you mean 'delivery'?",
        29,
    ),
    (
        "answers.topics == ['Billing']",
        "'topics' has no choice 'Billing'; did you mean 'billing'?",
        19,
    ),
    ("'biling' in answers.topics", "'topics' has no choice 'biling'; did you mean 'billing'?", 0),
    ("selected(topic, 'biling')", "'topic' has no choice 'biling'; did you mean 'billing'?", 16),
    # functions
    ("selected(nps, 'a')", "selected() needs a choice question, but 'nps' is a number", 9),
    ("selected(reason, 'a')", "selected() needs a choice question, but 'reason' is text", 9),
    ("selected(topic, 3)", "selected() needs a choice code (text), but got the number 3", 16),
    ("selected(topic, null)", "selected() needs a choice code (text), but got null", 16),
    ("answered(nps, 1)", "answered() takes 1 argument (a question id) but was given 2", 0),
    ("true or answered()", "answered() takes 1 argument (a question id) but was given 0", 8),
    (
        "selected(topic)",
        "selected() takes 2 arguments (a question id and a choice code) but was given 1",
        0,
    ),
]


@pytest.mark.parametrize(("source", "message", "offset"), STATIC_PROBLEMS)
def test_static_problems(source: str, message: str, offset: int) -> None:
    assert problems(source) == [(message, offset)]


def test_all_problems_are_reported_in_order() -> None:
    source = "answers.zebra > 1 or nps == 'x' and answers.topic == 'biling' and selected(nps, 'a')"
    found = problems(source)
    assert [offset for _, offset in found] == [8, 21, 53, 75]
    assert found[0][0].startswith("unknown question 'zebra'")
    assert found[1][0].startswith("unknown name 'nps'")
    assert found[2][0].startswith("'topic' has no choice 'biling'")
    assert found[3][0].startswith("selected() needs a choice question")


def test_problems_on_both_sides_of_an_ordering() -> None:
    assert problems("answers.resolved < answers.topics") == [
        ("'<' compares numbers, but answers.resolved is yes/no (true or false)", 0),
        ("'<' compares numbers, but answers.topics is a multiple choice (a list of codes)", 19),
    ]
    assert problems("answers.zebra > answers.nope") == [
        ("unknown question 'zebra'", 8),
        ("unknown question 'nope'", 24),
    ]


def test_unknown_references_do_not_cascade() -> None:
    assert problems("answers.zebra == 'x' and answers.zebra + 1 > 2") == [
        ("unknown question 'zebra'", 8),
        ("unknown question 'zebra'", 33),
    ]


def test_any_is_never_a_type_error() -> None:
    for source in (
        "contact.a == 1",
        "contact.a == 'x'",
        "contact.a == true",
        "event.a < 3",
        "event.a + 1 > contact.b",
        "contact.a in event.b",
        "event.a in 'text'",
        "answers.nps == contact.score",
        "answers.topic == event.topic",
        "selected(topic, event.topic)",
        "answers.nps in [contact.a, 3]",
    ):
        assert problems(source) == [], source


def test_a_channel_or_locale_the_session_can_never_have_is_a_problem() -> None:
    """`channel == "phone"` or `locale == "zh"` would always be false: reported at load."""
    env = dataclasses.replace(ENV, known_values={"channel": ("web", "email", "ivr", "sms", "chat"),
                                                 "locale": ("en", "zh-CN")})
    assert problems("channel == 'phone'", env) == [
        ("channel is never \"phone\" (channels: web, email, ivr, sms, chat)", 11)
    ]
    assert problems("channel != 'SMS'", env) == [
        ("channel is never \"SMS\" (channels: web, email, ivr, sms, chat); did you mean 'sms'?", 11)
    ]
    assert problems("locale in ['en', 'zh']", env) == [
        ("locale is never \"zh\" (this survey's locales: en, zh-CN); did you mean 'zh-CN'?", 17)
    ]
    assert problems("'zh-cn' == locale", env) == [
        ("locale is never \"zh-cn\" (this survey's locales: en, zh-CN); did you mean 'zh-CN'?", 0)
    ]
    assert problems("locale == 'zh-CN' and channel in ['web', 'email'] and contact.x == 'phone'", env) == []


def test_trigger_conditions_cannot_use_answers() -> None:
    assert problems("event.queue == 'billing' and contact.tier != 'test'", TRIGGER_ENV) == []
    only = "answers cannot be used in this condition; it can only use contact or event"
    assert problems("answers.nps > 5", TRIGGER_ENV) == [(only, 0)]
    assert problems("event.x and answered(nps)", TRIGGER_ENV) == [(only, 12)]
    assert problems("channel == 'sms'", TRIGGER_ENV) == [
        ("unknown name 'channel'; a condition can use contact or event", 0)
    ]
    assert problems("evnt.queue == 'x'", TRIGGER_ENV) == [
        ("unknown name 'evnt'; did you mean 'event'?", 0)
    ]
    no_answers = TypeEnv(answers=ENV.answers, allow_answers=False)
    assert problems("answers.nps > 5", no_answers) == [
        (
            "answers cannot be used in this condition; it can only use channel, contact, event or locale",
            0,
        )
    ]
    # a bare question id is not suggested as answers.<id> where answers are not allowed
    assert problems("nps > 5", no_answers)[0][0].startswith(
        "unknown name 'nps'; a condition can use"
    )


def test_check_accepts_a_parsed_expression() -> None:
    expr = parse("answers.nps == 'x'")
    assert check(expr, ENV) == [
        Problem('answers.nps is a number but is compared with the text "x"', 15)
    ]
    assert check(expr, TypeEnv(answers={"nps": AnswerInfo(A)})) == []


def test_answer_info_from_question_types() -> None:
    assert answer_info("nps") == AnswerInfo(N)
    assert (
        answer_info("csat") == answer_info("ces") == answer_info("rating") == answer_info("number")
    )
    assert answer_info("yes_no") == AnswerInfo(B)
    assert answer_info("text") == AnswerInfo(S)
    assert answer_info("single_choice", ["a", "b"]) == AnswerInfo(S, frozenset({"a", "b"}))
    assert answer_info("multiple_choice", ("a",)) == AnswerInfo(L, frozenset({"a"}))
    assert answer_info("mystery") == AnswerInfo(A)


# --------------------------------------------------------------------------- properties

TOKENS = [
    "answers",
    "contact",
    "event",
    "channel",
    "locale",
    ".",
    "nps",
    "topic",
    "tier",
    "x",
    "answered",
    "selected",
    "(",
    ")",
    "[",
    "]",
    ",",
    "and",
    "or",
    "not",
    "in",
    "true",
    "null",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "=",
    "!",
    "0",
    "7",
    "2.5",
    '"billing"',
    "'a\\'b'",
    '"',
    "'",
    "\\",
    "&&",
    "#",
    "中",
    " ",
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_parse_arbitrary_text_raises_only_expression_error(text: str) -> None:
    try:
        expr = parse(text)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text)
        assert error.message
    else:
        check(expr, ENV)
        expr.evaluate({})


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join))
def test_token_soup_never_crashes(text: str) -> None:
    expr, found = compile_expression(text, ENV)
    for problem in found:
        assert 0 <= problem.offset <= len(text) and problem.message
    if expr is not None:
        expr.evaluate(SCOPE)
        expr.evaluate({})
        check(expr, TRIGGER_ENV)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


leaves = st.one_of(
    st.integers(-1000, 10**6).map(str),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda p: f"{p[0]}.{p[1]}"),
    st.text(max_size=8).map(_quote),
    st.sampled_from(["true", "false", "null", "True", "None", "[]"]),
    st.sampled_from(
        [
            "answers.a",
            "answers.b",
            "answers.c",
            "answers.missing",
            "contact.x",
            "contact.x.y",
            "event.q",
            "event.q.r.s",
            "channel",
            "locale",
        ]
    ),
    st.sampled_from(
        ["answered(a)", "answered(answers.b)", "selected(c, 'x')", "selected(a, contact.x)"]
    ),
)
BINARY_OPS = [
    "and",
    "or",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "+",
    "-",
    "*",
    "/",
    "%",
]
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(BINARY_OPS), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"(-{e})"),
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
    ),
    max_leaves=15,
)
plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=3),
)
nested = st.recursive(
    plain, lambda inner: st.dictionaries(st.sampled_from("xyqrs"), inner), max_leaves=6
)
scopes = st.fixed_dictionaries(
    {},
    optional={
        "answers": st.one_of(st.dictionaries(st.sampled_from("abc"), plain), plain),
        "contact": nested,
        "event": nested,
        "channel": plain,
        "locale": plain,
    },
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, scopes)
def test_evaluating_valid_expressions_never_raises(source: str, scope: dict[str, Any]) -> None:
    try:
        expr = parse(source)
    except ExpressionError as error:  # generated text is valid unless it is absurdly deep
        assume("deeply" in error.message)
        return
    value = expr.evaluate(scope)
    assert value is None or isinstance(value, bool | int | float | str | list | dict)
    assert isinstance(expr.test(scope), bool)
    check(expr, ENV)
    env_any = TypeEnv(answers={q: AnswerInfo(A) for q in "abc"})
    assert isinstance(check(expr, env_any), list)


comparable = st.one_of(
    st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=2), st.booleans()
)


@given(comparable, st.lists(comparable, max_size=4))
def test_in_and_not_in_are_complementary_for_non_null(x: Any, items: list[Any]) -> None:
    scope = {"contact": {"x": x, "items": items}}
    inside = parse("contact.x in contact.items").evaluate(scope)
    outside = parse("contact.x not in contact.items").evaluate(scope)
    assert inside is not outside


@given(
    st.one_of(plain, nested), st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])
)
def test_any_comparison_with_null_is_false(value: Any, op: str) -> None:
    scope = {"contact": {"v": value}}
    assert parse(f"contact.v {op} contact.missing").evaluate(scope) is False
    assert parse(f"contact.missing {op} contact.v").evaluate(scope) is False


@given(
    st.integers(-(10**6), 10**6),
    st.integers(-(10**6), 10**6),
    st.sampled_from(["+", "-", "*", "/", "%"]),
)
def test_arithmetic_matches_python_on_numbers(a: int, b: int, op: str) -> None:
    result = parse(f"contact.a {op} contact.b").evaluate({"contact": {"a": a, "b": b}})
    if op in "/%" and b == 0:
        assert result is None
    else:
        expected = (
            {"+": a + b, "-": a - b, "*": a * b}.get(op)
            if op in "+-*"
            else (a / b if op == "/" else a % b)
        )
        assert result == expected


@given(st.integers(0, 10), st.integers(0, 10))
def test_ordering_matches_python(a: int, b: int) -> None:
    scope = {"answers": {"a": a, "b": float(b)}}
    assert ev("answers.a < answers.b", **scope) is (a < b)
    assert ev("answers.a >= answers.b", **scope) is (a >= b)
    assert ev("not (answers.a < answers.b)", **scope) is (a >= b)


def test_nan_compares_false() -> None:
    scope = {"contact": {"n": math.nan}}
    assert ev("contact.n == contact.n", **scope) is False
    assert ev("contact.n < 1", **scope) is False
