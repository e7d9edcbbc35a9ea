"""The safe expression language of survey conditions (``show_if:``, trigger ``if:``).

Examples::

    answers.nps <= 6
    answers.resolved == false and channel in ["web", "sms"]
    not answered(reason)
    selected(topic, "billing") or contact.tier == "gold"
    answers.speed + answers.price >= 8
    "billing" in answers.topics

Source text is tokenised and parsed by recursive descent (never ``eval``) into a small frozen
AST; :func:`check` validates it against the answers known at load time and
:meth:`Expression.evaluate` runs it.

Precedence, lowest first: ``or``, ``and``, ``not``, comparisons (``== != < <= > >= in``,
``not in``; they do not chain), ``+ -``, ``* / %``, unary ``-``.

Evaluation never raises. ``null`` (an unanswered question, a missing field) behaves like
SQL's NULL:

* any comparison with null on either side is false, ``!=`` included; so is comparing values
  that cannot be compared (text with a number, true/false with a number: ``true != 1`` is
  false too, since booleans are not numbers);
* ``x in list`` and ``x not in list`` are both false when ``x`` or the list is null;
  ``"ref" in text`` tests for a piece of text;
* arithmetic involving null gives null, and so does division by zero;
* ``and``, ``or`` and ``not`` treat null as false, so ``not (answers.nps > 5)`` is **true**
  when nps was not answered. Use ``answered(nps)`` to test for an answer explicitly.

Numbers compare across int and float, text compares case-sensitively, and lists of text
(multiple-choice answers) compare regardless of order.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from feedback.errors import FeedbackError

__all__ = [
    "AnswerInfo",
    "Expression",
    "ExpressionError",
    "Problem",
    "QUESTION_VALUE_TYPES",
    "TypeEnv",
    "ValueType",
    "answer_info",
    "check",
    "compile_expression",
    "parse",
]

MAX_NESTING = 40  # parentheses, lists, calls, `not` and unary minus inside each other
MAX_DEPTH = 100  # depth of the syntax tree (long chains like a + b + c + ...)
MAX_NUMBER_LENGTH = 100


class ExpressionError(FeedbackError):
    """A syntax error in an expression, at a 0-based character ``offset`` of the source."""

    code = "invalid_expression"

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.args = (message, offset)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One problem found in an expression, at a 0-based character offset of its source."""

    message: str
    offset: int


class ValueType(enum.Enum):
    """Value types known at load time. ANY (contact and event fields) is never a type error."""

    NUMBER = "number"
    BOOL = "bool"
    STRING = "string"
    LIST = "list"
    ANY = "any"


@dataclass(frozen=True)
class AnswerInfo:
    """What a condition may assume about one earlier answer."""

    type: ValueType
    codes: frozenset[str] | None = None  # choice codes of single/multiple choice questions
    #: False when some choice codes are broken in the file (and repaired to go on checking):
    #: an unknown code may be one of them, so it is neither reported nor are codes listed.
    codes_complete: bool = True


@dataclass(frozen=True)
class TypeEnv:
    """What a condition may refer to, for :func:`check`."""

    answers: Mapping[str, AnswerInfo]  # questions asked before (may be referenced)
    later: frozenset[str] = frozenset()  # this question and the ones after it
    allow_answers: bool = True  # False for trigger conditions
    allowed_roots: frozenset[str] = frozenset({"answers", "contact", "event", "channel", "locale"})
    #: The only values some names can have (``channel``, ``locale``): comparing one with any
    #: other text is always false, so it is reported.
    known_values: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"channel": ("web", "email", "ivr", "sms", "chat")}
    )


QUESTION_VALUE_TYPES: Mapping[str, ValueType] = {
    "nps": ValueType.NUMBER,
    "csat": ValueType.NUMBER,
    "ces": ValueType.NUMBER,
    "rating": ValueType.NUMBER,
    "number": ValueType.NUMBER,
    "yes_no": ValueType.BOOL,
    "single_choice": ValueType.STRING,
    "text": ValueType.STRING,
    "multiple_choice": ValueType.LIST,
}


def answer_info(question_type: str, codes: Iterable[str] | None = None) -> AnswerInfo:
    """The :class:`AnswerInfo` of a question type name (``"nps"``, ``"multiple_choice"``...)."""
    kind = QUESTION_VALUE_TYPES.get(question_type, ValueType.ANY)
    choice = question_type in ("single_choice", "multiple_choice")
    return AnswerInfo(kind, frozenset(codes or ()) if choice else None)


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Literal:
    """A number, text, true/false or null."""

    value: int | float | str | bool | None
    offset: int


@dataclass(frozen=True)
class ListExpr:
    """A list display ``[a, b]``."""

    items: tuple[Node, ...]
    offset: int


@dataclass(frozen=True)
class Ref:
    """A name with an optional dotted path: ``answers.nps``, ``event.data.queue``, ``channel``."""

    root: str
    path: tuple[str, ...]
    offset: int
    path_offsets: tuple[int, ...] = ()

    @property
    def dotted(self) -> str:
        return ".".join((self.root, *self.path))


@dataclass(frozen=True)
class QuestionRef:
    """The question argument of ``answered(q)`` / ``selected(q, code)``."""

    qid: str
    offset: int


@dataclass(frozen=True)
class Unary:
    """``not x`` or ``-x``."""

    op: str
    operand: Node
    offset: int


@dataclass(frozen=True)
class Binary:
    """Arithmetic or a comparison; ``offset`` is the operator's."""

    op: str
    left: Node
    right: Node
    offset: int


@dataclass(frozen=True)
class BoolOp:
    """``a and b and ...`` or ``a or b or ...``; ``offset`` is the first operator's."""

    op: str
    operands: tuple[Node, ...]
    offset: int


@dataclass(frozen=True)
class Call:
    """``answered(q)`` or ``selected(q, code)``; ``offset`` is the function name's."""

    func: str
    args: tuple[Node, ...]
    offset: int


Node = Literal | ListExpr | Ref | QuestionRef | Unary | Binary | BoolOp | Call


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case ListExpr(items=items):
            return items
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case BoolOp(operands=operands):
            return operands
        case Call(args=args):
            return args
    return ()


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


def _start(node: Node) -> int:
    """Offset of the first character of ``node``."""
    while isinstance(node, Binary | BoolOp):
        node = node.left if isinstance(node, Binary) else node.operands[0]
    return node.offset


@dataclass(frozen=True)
class Expression:
    """A parsed expression. Immutable; evaluating it never raises."""

    source: str
    node: Node = field(repr=False)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value of the expression; ``scope`` holds answers, contact, event, channel, locale."""
        return _eval(self.node, scope if isinstance(scope, Mapping) else {})

    def test(self, scope: Mapping[str, Any]) -> bool:
        """Evaluate and coerce to bool (null, 0, empty text and empty lists are false)."""
        return _truth(self.evaluate(scope))

    def references(self) -> frozenset[str]:
        """Ids of the answers the expression reads."""
        ids: set[str] = set()
        for node in _walk(self.node):
            if isinstance(node, QuestionRef):
                ids.add(node.qid)
            elif isinstance(node, Ref) and node.root == "answers" and node.path:
                ids.add(node.path[0])
        return frozenset(ids)

    def __str__(self) -> str:
        return self.source


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "number" | "string" | "name" | "op" | "end"
    text: str
    value: Any
    offset: int


_KEYWORDS = frozenset({"and", "or", "not", "in"})
_CONSTANTS: Mapping[str, bool | None] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
}
_FUNCTIONS: Mapping[str, int] = {"answered": 1, "selected": 2}
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})
_TWO_CHAR_OPS = frozenset({"==", "!=", "<=", ">="})
_ONE_CHAR_OPS = frozenset("<>+-*/%()[],.")
_MISTAKES = {"&&": "and", "||": "or", "=>": ">=", "=<": "<=", "<>": "!="}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_CURLY_QUOTES = "\u201c\u201d\u2018\u2019"


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _tokenize(src: str) -> list[_Token]:
    """Split ``src`` into tokens, ending with an ``end`` token."""
    tokens: list[_Token] = []
    i, n = 0, len(src)
    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
        elif _is_digit(ch):
            j = i
            while j < n and _is_digit(src[j]):
                j += 1
            if j + 1 < n and src[j] == "." and _is_digit(src[j + 1]):
                j += 1
                while j < n and _is_digit(src[j]):
                    j += 1
            text = src[i:j]
            if len(text) > MAX_NUMBER_LENGTH:
                raise ExpressionError("this number is too long", i)
            tokens.append(_Token("number", text, float(text) if "." in text else int(text), i))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            tokens.append(_Token("name", src[i:j], None, i))
            i = j
        elif ch in "\"'":
            i = _read_string(src, i, tokens)
        else:
            two = src[i : i + 2]
            if two in _MISTAKES:
                raise ExpressionError(
                    f"'{two}' is not an operator; did you mean '{_MISTAKES[two]}'?", i
                )
            if two in _TWO_CHAR_OPS:
                tokens.append(_Token("op", two, None, i))
                i += 2
                continue
            if ch in _ONE_CHAR_OPS:
                tokens.append(_Token("op", ch, None, i))
                i += 1
                continue
            raise ExpressionError(_bad_character(ch), i)
    tokens.append(_Token("end", "", None, n))
    return tokens


def _bad_character(ch: str) -> str:
    if ch == "=":
        return "'=' is not an operator; did you mean '=='?"
    if ch == "!":
        return "'!' is not an operator; use 'not' (or '!=' for 'is not equal to')"
    if ch in "&|":
        return f"'{ch}' is not an operator; did you mean '{'and' if ch == '&' else 'or'}'?"
    if ch in _CURLY_QUOTES:
        return "curly quotes are not allowed; use straight quotes \" or '"
    return f"unexpected character {ch!r}"


def _read_string(src: str, start: int, tokens: list[_Token]) -> int:
    """Read the quoted text starting at ``start``; return the offset just after it."""
    quote, j, n = src[start], start + 1, len(src)
    chars: list[str] = []
    while True:
        if j >= n:
            raise ExpressionError(f"unclosed text: add a closing {quote}", start)
        c = src[j]
        if c == quote:
            tokens.append(_Token("string", src[start : j + 1], "".join(chars), start))
            return j + 1
        if c != "\\":
            chars.append(c)
            j += 1
            continue
        esc = src[j + 1] if j + 1 < n else ""
        if esc in _ESCAPES and esc:
            chars.append(_ESCAPES[esc])
            j += 2
        elif esc == "u":
            digits = src[j + 2 : j + 6]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ExpressionError("'\\u' must be followed by 4 hexadecimal digits", j)
            chars.append(chr(int(digits, 16)))
            j += 6
        elif not esc:
            raise ExpressionError(f"unclosed text: add a closing {quote}", start)
        else:
            raise ExpressionError(
                f"unknown escape '\\{esc}' in text; write '\\\\' for a backslash", j
            )


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list; one method per precedence level."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def at_op(self, text: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text == text

    def at_word(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "name" and tok.text == word

    def enter(self, tok: _Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExpressionError("the condition is nested too deeply", tok.offset)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionError("the condition is empty", 0)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise ExpressionError(self.trailing_message(tok), tok.offset)
        return node

    def trailing_message(self, tok: _Token) -> str:
        if tok.kind == "op" and tok.text == ")":
            return "')' without a matching '('"
        if self.comparison_op() is not None:
            return "comparisons cannot be chained; join them with 'and', e.g. 1 <= x and x <= 5"
        if tok.kind == "name" and tok.text == "not":
            return "unexpected 'not'; did you mean 'not in'?"
        if tok.kind == "name" and tok.text.lower() in _KEYWORDS:
            return f"unexpected '{tok.text}'; did you mean '{tok.text.lower()}'?"
        return f"unexpected '{tok.text}'; expected an operator such as '==', 'and' or 'or'"

    def parse_bool(self, op: str, parse_operand: Callable[[], Node]) -> Node:
        first = parse_operand()
        if not self.at_word(op):
            return first
        operands, offset = [first], self.peek().offset
        while self.at_word(op):
            self.advance()
            operands.append(parse_operand())
        return BoolOp(op, tuple(operands), offset)

    def parse_or(self) -> Node:
        return self.parse_bool("or", self.parse_and)

    def parse_and(self) -> Node:
        return self.parse_bool("and", self.parse_not)

    def parse_not(self) -> Node:
        if self.at_word("not"):
            tok = self.advance()
            self.enter(tok)
            operand = self.parse_not()
            self.nesting -= 1
            return Unary("not", operand, tok.offset)
        return self.parse_comparison()

    def comparison_op(self) -> tuple[str, int] | None:
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARISONS:
            return tok.text, tok.offset
        if self.at_word("in"):
            return "in", tok.offset
        if self.at_word("not") and self.at_word("in", 1):
            return "not in", tok.offset
        return None

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        found = self.comparison_op()
        if found is None:
            return left
        op, offset = found
        self.advance()
        if op == "not in":
            self.advance()
        right = self.parse_sum()
        return Binary(op, left, right, offset)

    def parse_sum(self) -> Node:
        node = self.parse_product()
        while self.at_op("+") or self.at_op("-"):
            tok = self.advance()
            node = Binary(tok.text, node, self.parse_product(), tok.offset)
        return node

    def parse_product(self) -> Node:
        node = self.parse_unary()
        while self.at_op("*") or self.at_op("/") or self.at_op("%"):
            tok = self.advance()
            node = Binary(tok.text, node, self.parse_unary(), tok.offset)
        return node

    def parse_unary(self) -> Node:
        if not self.at_op("-"):
            return self.parse_primary()
        tok = self.advance()
        self.enter(tok)
        operand = self.parse_unary()
        self.nesting -= 1
        if isinstance(operand, Literal) and type(operand.value) in (int, float):
            return Literal(-operand.value, tok.offset)  # type: ignore[operator]
        return Unary("-", operand, tok.offset)

    def expected_value(self, tok: _Token) -> ExpressionError:
        prev = self.tokens[self.pos - 1] if self.pos > 0 else None
        found = "" if tok.kind == "end" else f" but found '{tok.text}'"
        if prev is None:
            return ExpressionError(f"expected a value{found}", tok.offset)
        return ExpressionError(f"expected a value after '{prev.text}'{found}", tok.offset)

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("number", "string"):
            self.advance()
            return Literal(tok.value, tok.offset)
        if tok.kind == "name":
            if tok.text in _CONSTANTS:
                self.advance()
                return Literal(_CONSTANTS[tok.text], tok.offset)
            if tok.text in _KEYWORDS:
                raise self.expected_value(tok)
            if self.peek(1).kind == "op" and self.peek(1).text == "(":
                return self.parse_call()
            return self.parse_ref()
        if tok.kind == "op" and tok.text == "(":
            self.advance()
            self.enter(tok)
            node = self.parse_or()
            self.nesting -= 1
            self.expect_close(")", tok, "unclosed parenthesis")
            return node
        if tok.kind == "op" and tok.text == "[":
            return self.parse_list()
        raise self.expected_value(tok)

    def expect_close(self, close: str, opener: _Token, unclosed: str, sep: str = "") -> None:
        tok = self.peek()
        if tok.kind == "op" and tok.text == close:
            self.advance()
            return
        if tok.kind == "end":
            raise ExpressionError(unclosed, opener.offset)
        wanted = f"',' or '{close}'" if sep else f"'{close}'"
        raise ExpressionError(f"expected {wanted} but found '{tok.text}'", tok.offset)

    def parse_list(self) -> Node:
        opener = self.advance()
        self.enter(opener)
        items: list[Node] = []
        while not self.at_op("]") and self.peek().kind != "end":
            items.append(self.parse_or())
            if not self.at_op(","):
                break
            self.advance()
        self.nesting -= 1
        self.expect_close("]", opener, "unclosed '['", sep=",")
        return ListExpr(tuple(items), opener.offset)

    def parse_ref(self) -> Node:
        name = self.advance()
        path: list[str] = []
        offsets: list[int] = []
        while self.at_op("."):
            self.advance()
            seg = self.peek()
            if seg.kind != "name":
                what = "a question id" if name.text == "answers" and not path else "a field name"
                raise ExpressionError(f"expected {what} after '.'", seg.offset)
            self.advance()
            path.append(seg.text)
            offsets.append(seg.offset)
        ref = Ref(name.text, tuple(path), name.offset, tuple(offsets))
        if self.at_op("("):
            raise ExpressionError(
                f"'{ref.dotted}' is not a function; only answered() and selected() can be called",
                self.peek().offset,
            )
        return ref

    def parse_call(self) -> Node:
        name, opener = self.advance(), self.advance()
        if name.text not in _FUNCTIONS:
            raise ExpressionError(
                f"unknown function '{name.text}'" + _did_you_mean(name.text, _FUNCTIONS),
                name.offset,
            )
        self.enter(opener)
        args: list[Node] = []
        while not self.at_op(")") and self.peek().kind != "end":
            args.append(self.parse_question(name.text) if not args else self.parse_or())
            if not self.at_op(","):
                break
            self.advance()
        self.nesting -= 1
        self.expect_close(")", opener, f"unclosed parenthesis in {name.text}()", sep=",")
        return Call(name.text, tuple(args), name.offset)

    def parse_question(self, func: str) -> QuestionRef:
        tok = self.peek()
        if tok.kind == "name" and tok.text not in _KEYWORDS and tok.text not in _CONSTANTS:
            nxt = self.peek(1)
            if tok.text == "answers" and nxt.kind == "op" and nxt.text == ".":
                self.advance()
                self.advance()
                tok = self.peek()
                if tok.kind != "name":
                    raise ExpressionError("expected a question id after '.'", tok.offset)
                nxt = self.peek(1)
            if not (nxt.kind == "op" and nxt.text == "."):
                self.advance()
                return QuestionRef(tok.text, tok.offset)
        example = "reason" if func == "answered" else 'topic, "billing"'
        raise ExpressionError(
            f"{func}() needs a question id as its first argument, e.g. {func}({example})",
            tok.offset,
        )


def _check_depth(node: Node) -> None:
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError("the condition is too long or nested too deeply", _start(current))
        stack.extend((child, depth + 1) for child in _children(current))


def parse(source: str) -> Expression:
    """Parse ``source``; raise :class:`ExpressionError` on a syntax error."""
    if not isinstance(source, str):
        raise ExpressionError("a condition must be text", 0)
    node = _Parser(source).parse()
    _check_depth(node)
    return Expression(source, node)


# --------------------------------------------------------------------------- evaluation


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _truth(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if _is_num(value):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _equal(a: Any, b: Any) -> bool | None:
    """True/False when ``a`` and ``b`` can be compared, None otherwise (null, mixed types)."""
    if a is None or b is None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b if isinstance(a, bool) and isinstance(b, bool) else None
    if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        return bool(a == b)
    if _is_list(a) and _is_list(b):
        if len(a) != len(b):
            return False
        if all(isinstance(x, str) for x in a) and all(isinstance(x, str) for x in b):
            return sorted(a) == sorted(b)
        same = True
        for x, y in zip(a, b, strict=True):
            eq = _equal(x, y)
            if eq is None:
                return None
            same = same and eq
        return same
    return None


def _order(op: str, a: Any, b: Any) -> bool:
    if not ((_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _member(a: Any, b: Any) -> bool | None:
    """Whether ``a`` is in ``b``; None when that cannot be answered (null, not a list)."""
    if a is None or b is None:
        return None
    if _is_list(b):
        return any(_equal(a, item) is True for item in b)
    if isinstance(a, str) and isinstance(b, str):
        return a in b
    return None


def _arithmetic(op: str, a: Any, b: Any) -> int | float | None:
    if not (_is_num(a) and _is_num(b)):
        return None
    try:
        if op == "+":
            return a + b  # type: ignore[no-any-return]
        if op == "-":
            return a - b  # type: ignore[no-any-return]
        if op == "*":
            return a * b  # type: ignore[no-any-return]
        if b == 0:
            return None
        return a / b if op == "/" else a % b  # type: ignore[no-any-return]
    except (ArithmeticError, ValueError):  # overflow converting a huge int to float
        return None


def _lookup(scope: Mapping[str, Any], root: str, path: tuple[str, ...]) -> Any:
    value = scope.get(root)
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _eval(node: Node, scope: Mapping[str, Any]) -> Any:
    match node:
        case Literal(value=value):
            return value
        case ListExpr(items=items):
            return [_eval(item, scope) for item in items]
        case Ref(root=root, path=path):
            return _lookup(scope, root, path)
        case QuestionRef(qid=qid):
            return _lookup(scope, "answers", (qid,))
        case Unary(op="not", operand=operand):
            return not _truth(_eval(operand, scope))
        case Unary(operand=operand):
            value = _eval(operand, scope)
            return -value if _is_num(value) else None
        case BoolOp(op="and", operands=operands):
            return all(_truth(_eval(o, scope)) for o in operands)
        case BoolOp(operands=operands):
            return any(_truth(_eval(o, scope)) for o in operands)
        case Binary(op=op, left=left, right=right):
            a, b = _eval(left, scope), _eval(right, scope)
            if op in _ARITHMETIC:
                return _arithmetic(op, a, b)
            if op == "==":
                return _equal(a, b) is True
            if op == "!=":
                return _equal(a, b) is False
            if op == "in":
                return _member(a, b) is True
            if op == "not in":
                return _member(a, b) is False
            return _order(op, a, b)
        case Call(func=func, args=args):
            return _call(func, args, scope)
    return None


def _call(func: str, args: tuple[Node, ...], scope: Mapping[str, Any]) -> bool:
    if _FUNCTIONS.get(func) != len(args):
        return False
    value = _eval(args[0], scope)
    if func == "answered":
        return value is not None and not (_is_list(value) and len(value) == 0)
    code = _eval(args[1], scope)
    if _is_list(value):
        return _member(code, value) is True
    return _equal(value, code) is True


# --------------------------------------------------------------------------- static checks

_NOUNS = {
    ValueType.NUMBER: "a number",
    ValueType.BOOL: "yes/no (true or false)",
    ValueType.STRING: "text",
    ValueType.LIST: "a list",
    ValueType.ANY: "any value",
}
_ROOT_TYPES = {"channel": ValueType.STRING, "locale": ValueType.STRING}
_EXAMPLES = {
    "contact": "contact.tier",
    "event": "event.queue",
    "channel": '"sms"',
    "locale": '"en"',
}


def _literal_type(value: Any) -> ValueType | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return ValueType.BOOL
    return ValueType.STRING if isinstance(value, str) else ValueType.NUMBER


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _noun(kind: ValueType | None, info: AnswerInfo | None = None) -> str:
    if kind is None:
        return "null"
    if info is not None and info.codes is not None:
        return (
            "a single choice" if kind is ValueType.STRING else "a multiple choice (a list of codes)"
        )
    return _NOUNS[kind]


def _describe(node: Node) -> str:
    match node:
        case Literal(value=None):
            return "null"
        case Literal(value=bool() as value):
            return "true" if value else "false"
        case Literal(value=str() as value):
            return f"the text {_quote(value)}"
        case Literal(value=value):
            return f"the number {value}"
        case Ref():
            return node.dotted
        case QuestionRef(qid=qid):
            return f"answers.{qid}"
        case ListExpr():
            return "a list"
        case Call(func=func):
            return f"{func}(...)"
    return (
        "this calculation"
        if isinstance(node, Binary) and node.op in _ARITHMETIC
        else "this condition"
    )


def _typed(node: Node, kind: ValueType | None) -> str:
    """``node`` described with its type, unless a literal already says it."""
    return (
        _describe(node)
        if isinstance(node, Literal)
        else f"{_describe(node)}, which is {_noun(kind)}"
    )


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    by_lower = {c.lower(): c for c in candidates}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    suggestion = _suggest(word, candidates)
    return f"; did you mean '{suggestion}'?" if suggestion else ""


def _join(words: Iterable[str]) -> str:
    items = sorted(words)
    if not items:
        return "nothing"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


class _Checker:
    """Infers the type of each node, collecting every problem on the way."""

    def __init__(self, env: TypeEnv) -> None:
        self.env = env
        self.problems: list[Problem] = []

    def report(self, message: str, offset: int) -> None:
        self.problems.append(Problem(message, offset))

    @property
    def answers_allowed(self) -> bool:
        return self.env.allow_answers and "answers" in self.env.allowed_roots

    def answer_of(self, node: Node) -> tuple[str, AnswerInfo] | None:
        """The question id and info when ``node`` is a valid reference to an earlier answer."""
        if isinstance(node, QuestionRef):
            qid = node.qid
        elif isinstance(node, Ref) and node.root == "answers" and len(node.path) == 1:
            qid = node.path[0]
        else:
            return None
        info = self.env.answers.get(qid)
        return (qid, info) if info is not None and self.answers_allowed else None

    def info_of(self, node: Node) -> AnswerInfo | None:
        """The :class:`AnswerInfo` when ``node`` is a valid reference to an earlier answer."""
        answer = self.answer_of(node)
        return answer[1] if answer else None

    def infer(self, node: Node) -> ValueType | None:
        """The node's type; None for the null literal; ANY when unknown or already wrong."""
        match node:
            case Literal(value=value):
                return _literal_type(value)
            case ListExpr(items=items):
                for item in items:
                    self.infer(item)
                return ValueType.LIST
            case Ref():
                return self.ref(node)
            case QuestionRef(qid=qid, offset=offset):
                info = self.question(qid, offset)
                return info.type if info else ValueType.ANY
            case Unary(op="not", operand=operand):
                self.infer(operand)
                return ValueType.BOOL
            case Unary(op=op, operand=operand):
                self.need_number(op, operand, self.infer(operand))
                return ValueType.NUMBER
            case BoolOp(operands=operands):
                for operand in operands:
                    self.infer(operand)
                return ValueType.BOOL
            case Binary(op=op, left=left, right=right) if op in _ARITHMETIC:
                self.need_number(op, left, self.infer(left))
                self.need_number(op, right, self.infer(right))
                return ValueType.NUMBER
            case Binary(op="==" | "!="):
                self.equality(node)
                return ValueType.BOOL
            case Binary(op="in" | "not in"):
                self.membership(node)
                return ValueType.BOOL
            case Binary():
                self.ordering(node)
                return ValueType.BOOL
            case Call():
                self.call(node)
                return ValueType.BOOL
        return ValueType.ANY

    def question(self, qid: str, offset: int) -> AnswerInfo | None:
        info = self.env.answers.get(qid)
        if info is not None:
            return info
        if qid in self.env.later:
            self.report(
                f"'{qid}' is asked later (or is this question); "
                "a condition can only use earlier answers",
                offset,
            )
        else:
            self.report(f"unknown question '{qid}'" + _did_you_mean(qid, self.env.answers), offset)
        return None

    def no_answers_here(self, offset: int) -> None:
        others = self.env.allowed_roots - {"answers"}
        only = f"; it can only use {_join(others)}" if others else ""
        self.report(f"answers cannot be used in this condition{only}", offset)

    def ref(self, node: Ref) -> ValueType:
        env, root = self.env, node.root
        if root == "answers":
            if not self.answers_allowed:
                self.no_answers_here(node.offset)
                return ValueType.ANY
            if not node.path:
                self.report(
                    "'answers' must be followed by a question id, e.g. answers.nps", node.offset
                )
                return ValueType.ANY
            info = self.question(node.path[0], node.path_offsets[0])
            if len(node.path) > 1:
                self.report(
                    f"an answer has no fields: remove '.{node.path[1]}'", node.path_offsets[1]
                )
                return ValueType.ANY
            return info.type if info else ValueType.ANY
        if root not in env.allowed_roots:
            self.unknown_name(node)
            return ValueType.ANY
        kind = _ROOT_TYPES.get(root, ValueType.ANY)
        if kind is ValueType.STRING and node.path:
            self.report(
                f"'{root}' has no fields; it is text such as {_EXAMPLES[root]}",
                node.path_offsets[0],
            )
            return ValueType.ANY
        if root in ("contact", "event") and not node.path:
            self.report(
                f"'{root}' must be followed by a field name, e.g. {_EXAMPLES[root]}", node.offset
            )
        return kind

    def unknown_name(self, node: Ref) -> None:
        roots = set(self.env.allowed_roots)
        candidates = {c: c for c in roots | {"true", "false", "null"}}
        if self.answers_allowed:
            ids = set(self.env.answers) | set(self.env.later)
            candidates.update({qid: f"answers.{qid}" for qid in ids})
            if node.root in ids:
                self.report(
                    f"unknown name '{node.root}'; did you mean 'answers.{node.root}'?", node.offset
                )
                return
        else:
            candidates.pop("answers", None)
            roots.discard("answers")
        match = _suggest(node.root, candidates)
        hint = (
            f"did you mean '{candidates[match]}'?"
            if match
            else f"a condition can use {_join(roots)}"
        )
        self.report(f"unknown name '{node.root}'; {hint}", node.offset)

    def need_number(self, op: str, node: Node, kind: ValueType | None) -> None:
        if kind is None:
            self.report(f"'{op}' with null always gives null", _start(node))
        elif kind not in (ValueType.NUMBER, ValueType.ANY):
            self.report(
                f"'{op}' needs numbers, but {_describe(node)} is {_noun(kind, self.info_of(node))}",
                _start(node),
            )

    def null_comparison(self, op: str, null: Node, other: Node) -> None:
        answer = self.answer_of(other)
        hint = (
            f"; use answered({answer[0]}) or not answered({answer[0]}) to test for an answer"
            if answer
            else " (a missing value is never equal, or unequal, to anything)"
        )
        self.report(f"'{op}' with null is always false{hint}", null.offset)

    def mismatch(self, a: Node, ta: ValueType, b: Node, tb: ValueType) -> None:
        if isinstance(a, Literal) and not isinstance(b, Literal):
            a, ta, b, tb = b, tb, a, ta
        answer = self.answer_of(a)
        info = answer[1] if answer else None
        message = f"{_describe(a)} is {_noun(ta, info)} but is compared with {_typed(b, tb)}"
        if answer and ta is ValueType.LIST and isinstance(b, Literal) and isinstance(b.value, str):
            message += f"; use selected({answer[0]}, {_quote(b.value)})"
        elif ta is ValueType.BOOL and tb is not ValueType.BOOL:
            message += "; use true or false"
        self.report(message, _start(b))

    def known_value(self, name: Node, literal: Node) -> None:
        """Report text that ``channel`` or ``locale`` can never be."""
        if not (isinstance(name, Ref) and not name.path and isinstance(literal, Literal)):
            return
        known = self.env.known_values.get(name.root)
        value = literal.value
        if not known or not isinstance(value, str) or value in known:
            return
        what = "channels" if name.root == "channel" else "this survey's locales"
        suggestion = _suggest(value, known) or next(
            (k for k in known if k.split("-")[0].lower() == value.split("-")[0].lower()), None
        )
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        self.report(
            f"{name.root} is never {_quote(value)} ({what}: {', '.join(known)}){hint}", literal.offset
        )

    def code(self, qid: str, info: AnswerInfo, literal: Node) -> None:
        """Report a choice code that ``qid`` does not have."""
        if (
            info.codes is None
            or not isinstance(literal, Literal)
            or not isinstance(literal.value, str)
        ):
            return
        code = literal.value
        if code in info.codes or not info.codes_complete:
            return
        suggestion = _suggest(code, info.codes)
        hint = (
            f"; did you mean '{suggestion}'?"
            if suggestion
            else f" (its choices are {_join(info.codes)})"
        )
        self.report(f"'{qid}' has no choice '{code}'{hint}", literal.offset)

    def equality(self, node: Binary) -> None:
        left, right = node.left, node.right
        lt, rt = self.infer(left), self.infer(right)
        if lt is None or rt is None:
            null, other = (left, right) if lt is None else (right, left)
            self.null_comparison(node.op, null, other)
            return
        if ValueType.ANY not in (lt, rt) and lt is not rt:
            self.mismatch(left, lt, right, rt)
            return
        for side, other in ((left, right), (right, left)):
            answer = self.answer_of(side)
            if answer:
                items = other.items if isinstance(other, ListExpr) else (other,)
                for item in items:
                    self.code(answer[0], answer[1], item)
            self.known_value(side, other)

    def ordering(self, node: Binary) -> None:
        sides = (node.left, node.right)
        types = [self.infer(side) for side in sides]
        bad = False
        for side, other, kind in (
            (node.left, node.right, types[0]),
            (node.right, node.left, types[1]),
        ):
            info = self.info_of(side)
            if kind is None:
                self.null_comparison(node.op, side, other)
            elif kind in (ValueType.BOOL, ValueType.LIST) or (kind is ValueType.STRING and info):
                self.report(
                    f"'{node.op}' compares numbers, but {_describe(side)} is {_noun(kind, info)}",
                    _start(side),
                )
            else:
                continue
            bad = True
        lt, rt = types
        if not bad and lt and rt and ValueType.ANY not in (lt, rt) and lt is not rt:
            self.mismatch(node.left, lt, node.right, rt)

    def membership(self, node: Binary) -> None:
        op, left, right = node.op, node.left, node.right
        lt, rt = self.infer(left), self.infer(right)
        if lt is None or rt is None:
            self.report(f"'{op}' with null is always false", _start(left if lt is None else right))
            return
        right_answer, left_answer = self.answer_of(right), self.answer_of(left)
        if lt is ValueType.LIST:
            hint = f"; use selected({left_answer[0]}, ...)" if left_answer else ""
            self.report(
                f"{_describe(left)} is a list; '{op}' tests a single value{hint}", _start(left)
            )
        elif rt is ValueType.STRING:
            if right_answer and right_answer[1].codes is not None:
                self.report(
                    f"'{op}' needs a list on the right, but {_describe(right)} is a single choice; "
                    "use == instead",
                    _start(right),
                )
            elif lt is not ValueType.ANY and lt is not ValueType.STRING:
                self.report(
                    f"'{op}' looks for a piece of text in {_describe(right)}, not {_typed(left, lt)}",
                    _start(left),
                )
        elif rt not in (ValueType.LIST, ValueType.ANY):
            self.report(
                f"'{op}' needs a list on the right, but {_describe(right)} is {_noun(rt)}",
                _start(right),
            )
        elif isinstance(right, ListExpr):
            for item in right.items:
                if not isinstance(item, Literal):
                    continue
                kind = _literal_type(item.value)
                if kind is not None and lt is not ValueType.ANY and kind is not lt:
                    self.mismatch(left, lt, item, kind)
                elif left_answer:
                    self.code(left_answer[0], left_answer[1], item)
                else:
                    self.known_value(left, item)
        elif right_answer:
            if lt not in (ValueType.STRING, ValueType.ANY):
                self.report(
                    f"{_describe(right)} holds choice codes (text) and cannot contain {_typed(left, lt)}",
                    _start(left),
                )
            else:
                self.code(right_answer[0], right_answer[1], left)

    def call(self, node: Call) -> None:
        func, args = node.func, node.args
        arity = _FUNCTIONS.get(func, 0)
        if len(args) != arity:
            expects = (
                "1 argument (a question id)"
                if arity == 1
                else "2 arguments (a question id and a choice code)"
            )
            self.report(f"{func}() takes {expects} but was given {len(args)}", node.offset)
        if not self.answers_allowed:
            self.no_answers_here(node.offset)
            return
        info: AnswerInfo | None = None
        if args and isinstance(args[0], QuestionRef):
            info = self.question(args[0].qid, args[0].offset)
            if func == "selected" and info is not None and info.codes is None:
                self.report(
                    f"selected() needs a choice question, but '{args[0].qid}' is {_noun(info.type)}",
                    args[0].offset,
                )
                info = None
        elif args:
            self.infer(args[0])
        for index, arg in enumerate(args[1:], start=1):
            kind = self.infer(arg)
            if func != "selected" or index != 1:
                continue
            if kind is None or kind not in (ValueType.STRING, ValueType.ANY):
                self.report(
                    f"selected() needs a choice code (text), but got {_describe(arg)}", _start(arg)
                )
            elif info is not None and isinstance(args[0], QuestionRef):
                self.code(args[0].qid, info, arg)


def check(expr: Expression, env: TypeEnv) -> list[Problem]:
    """Every static problem of ``expr`` in ``env`` (unknown names, wrong types...), by offset."""
    checker = _Checker(env)
    checker.infer(expr.node)
    return sorted(checker.problems, key=lambda p: p.offset)


def compile_expression(source: str, env: TypeEnv) -> tuple[Expression | None, list[Problem]]:
    """Parse and check ``source``: ``(None, [problem])`` on a syntax error, else ``(expr, problems)``."""
    try:
        expr = parse(source)
    except ExpressionError as exc:
        return None, [Problem(exc.message, exc.offset)]
    return expr, check(expr, env)
