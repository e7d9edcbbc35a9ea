"""Answer understanding: a table of realistic replies, and properties over arbitrary input."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.definition.model import Choice, Question, Scale, ScaleLabels
from feedback.engine import understanding
from feedback.engine.understanding import (
    Command,
    NeedsConfirmation,
    NotUnderstood,
    Understood,
    parse_number,
    understand,
    understand_yes_no,
)

# -- question fixtures -------------------------------------------------------------------------

CHOICES = [
    Choice(code="billing", label={"en": "Billing", "zh-CN": "账单"}, aliases={"en": ["invoice"]}),
    Choice(
        code="delivery",
        label={"en": "Delivery", "zh-CN": "配送"},
        aliases={"en": ["shipping"], "zh-CN": ["快递"]},
    ),
    Choice(code="product", label={"en": "Product quality", "zh-CN": "产品质量"}),
    Choice(code="other", label={"en": "Something else", "zh-CN": "其他"}),
]
MANY_CHOICES = [Choice(code=f"c{i}", label=f"Branch {chr(64 + i)}") for i in range(1, 13)]

Q: dict[str, Question] = {
    "nps": Question(
        id="nps",
        type="nps",
        text="How likely are you to recommend us?",
        scale=Scale(
            min=0,
            max=10,
            labels=ScaleLabels(
                min={"en": "Not at all likely", "zh-CN": "完全不可能"},
                max={"en": "Extremely likely", "zh-CN": "非常可能"},
            ),
        ),
    ),
    "nps_plain": Question(id="nps_plain", type="nps", text="How likely...?"),
    "csat": Question(id="csat", type="csat", text="How satisfied were you?"),
    "ces": Question(
        id="ces",
        type="ces",
        text="How easy was it?",
        scale=Scale(
            min=1,
            max=7,
            labels=ScaleLabels(
                min={"en": "Very difficult", "zh-CN": "非常困难"},
                max={"en": "Very easy", "zh-CN": "非常容易"},
            ),
        ),
    ),
    "rating": Question(
        id="rating",
        type="rating",
        text="Rate the agent",
        scale=Scale(min=1, max=5, labels=ScaleLabels(min={"en": "Poor", "zh-CN": "差"}, max={"en": "Excellent", "zh-CN": "优秀"})),
    ),
    "rating10": Question(id="rating10", type="rating", text="Rate us", scale=Scale(min=1, max=10)),
    "number": Question(id="calls", type="number", text="How many times did you call?", min=0, max=1000),
    "decimal": Question(id="delta", type="number", text="Change?", integer=False, min=-10, max=10),
    "yes_no": Question(id="resolved", type="yes_no", text="Was your issue resolved?"),
    "had_problems": Question(
        id="problems",
        type="yes_no",
        text={"en": "Did you have any problems with your order?", "zh-CN": "您的订单遇到问题了吗？"},
    ),
    "single": Question(id="topic", type="single_choice", text="What was it about?", choices=CHOICES),
    "single_many": Question(id="branch", type="single_choice", text="Which branch?", choices=MANY_CHOICES),
    "went_wrong": Question(
        id="went_wrong", type="yes_no", text={"en": "Did anything go wrong?", "zh-CN": "有没有出错？"}
    ),
    "payment": Question(
        id="payment",
        type="single_choice",
        text="How did you pay?",
        choices=[
            Choice(code="card", label={"en": "Card payment", "zh-CN": "刷卡支付"}),
            Choice(code="cash", label={"en": "Cash payment", "zh-CN": "现金支付"}),
            Choice(code="account", label={"en": "My account", "zh-CN": "我的账户"}),
        ],
    ),
    "multi": Question(
        id="topics", type="multiple_choice", text="Which apply?", choices=CHOICES, max_choices=3
    ),
    "multi_min2": Question(
        id="topics2", type="multiple_choice", text="Pick two", choices=CHOICES, min_choices=2
    ),
    "multi_many": Question(
        id="branches", type="multiple_choice", text="Which branches?", choices=MANY_CHOICES
    ),
    "text": Question(id="comment", type="text", text="Anything else?", max_length=20),
    "text_long": Question(id="story", type="text", text="Tell us more"),
    "thumbs": Question(id="helpful", type="rating", text="Was this article helpful?", scale=Scale(min=0, max=1)),
    "three": Question(
        id="visit", type="rating", text={"en": "How was your visit?", "zh-CN": "您这次体验如何？"},
        scale=Scale(min=1, max=3),
    ),
    "offer": Question(
        id="offer",
        type="single_choice",
        text="Shall we call you back?",
        choices=[
            Choice(code="call", label={"en": "Yes, please call me", "zh-CN": "好的，请给我回电"}),
            Choice(code="later", label={"en": "Later", "zh-CN": "稍后"}),
            Choice(code="none", label={"en": "No, thanks", "zh-CN": "不用了，谢谢"}),
        ],
    ),
}

# -- expectations ------------------------------------------------------------------------------

REPROMPT = object()  # any NotUnderstood


class Why:
    """A NotUnderstood with this reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Why({self.reason!r})"


REPEAT, SKIP, BACK = Command("repeat"), Command("skip"), Command("back")
ORDER = ["other", "product", "delivery", "billing"]  # a randomised presentation

# (id, question, modality, locale, raw, expected[, extra keyword arguments])
TABLE: list[tuple[Any, ...]] = [
    # ---- NPS, typed (SMS / chat), English
    ("nps-digit", "nps", "text", "en", "9", 9),
    ("nps-padded", "nps", "text", "en", " 9 ", 9),
    ("nps-slash", "nps", "text", "en", "9/10", 9),
    ("nps-out-of", "nps", "text", "en", "9 out of 10", 9),
    ("nps-ten-slash", "nps", "text", "en", "10/10", 10),
    ("nps-an-eight", "nps", "text", "en", "I'd say an eight", 8),
    ("nps-ten-of-ten", "nps", "text", "en", "ten out of ten", 10),
    ("nps-solid", "nps", "text", "en", "a solid 7", 7),
    ("nps-bang", "nps", "text", "en", "7!", 7),
    ("nps-score", "nps", "text", "en", "score: 8", 8),
    ("nps-zero", "nps", "text", "en", "0", 0),
    ("nps-zero-word", "nps", "text", "en", "zero", 0),
    ("nps-word", "nps", "text", "en", "Nine.", 9),
    ("nps-mixed-out-of", "nps", "text", "en", "8 out of ten", 8),
    ("nps-give", "nps", "text", "en", "I'd give it a 6", 6),
    ("nps-maybe", "nps", "text", "en", "maybe a 5", 5),
    ("nps-repeated", "nps", "text", "en", "9, I said 9", 9),
    ("nps-scale-phrase", "nps", "text", "en", "on a scale of 0 to 10 I'd say 8", 8),
    ("nps-fullwidth", "nps", "text", "zh-CN", "９", 9),
    ("nps-or", "nps", "text", "en", "7 or 8", Why("ambiguous")),
    ("nps-dash", "nps", "text", "en", "7-8", Why("ambiguous")),
    ("nps-between", "nps", "text", "en", "between 7 and 8", Why("ambiguous")),
    ("nps-to", "nps", "text", "en", "seven to eight", Why("ambiguous")),
    ("nps-eleven", "nps", "text", "en", "11", Why("out_of_range")),
    ("nps-negative", "nps", "text", "en", "-1", Why("out_of_range")),
    ("nps-hundred", "nps", "text", "en", "100", Why("out_of_range")),
    ("nps-half", "nps", "text", "en", "7.5", Why("not_whole")),
    ("nps-ten-plus", "nps", "text", "en", "10+", Why("inexact")),
    ("nps-more-than", "nps", "text", "en", "more than 8", Why("inexact")),
    ("nps-over", "nps", "speech", "en", "over eight", Why("inexact")),
    ("nps-at-least-a", "nps", "text", "en", "at least a 9", Why("inexact")),
    ("nps-almost", "nps", "speech", "en", "almost ten", Why("inexact")),
    ("nps-zh-above", "nps", "text", "zh-CN", "八分以上", Why("inexact")),
    ("nps-zh-at-least", "nps", "text", "zh-CN", "至少8分", Why("inexact")),
    ("nps-about", "nps", "text", "en", "about 8", 8),
    ("nps-around", "nps", "speech", "en", "around eight I'd say", 8),
    ("nps-zh-about", "nps", "text", "zh-CN", "大概8分", 8),
    ("nps-zh-fast-is-no-bound", "nps", "text", "zh-CN", "服务很快9分", 9),
    ("nps-zh-thanks-is-no-bound", "nps", "text", "zh-CN", "10分多谢", 10),
    ("nps-over-ten", "nps", "text", "en", "9 over 10", 9),
    ("nps-typo-eigth", "nps", "text", "en", "eigth", 8),
    ("nps-typo-nien", "nps", "text", "en", "nien", 9),
    ("nps-typo-sevn", "nps", "text", "en", "I'd say a sevn", 7),
    ("nps-typo-ninne", "nps", "text", "en", "ninne", 9),
    ("nps-fine-is-no-five", "nps", "text", "en", "fine", Why("unrecognised")),
    ("nps-nice-is-no-nine", "nps", "text", "en", "nice", Why("unrecognised")),
    ("nps-even-is-no-seven", "nps", "text", "en", "even better, 8", 8),
    ("nps-there-is-no-three", "nps", "text", "en", "there", Why("unrecognised")),
    ("nps-thumbs-up-is-no-score", "nps", "text", "en", "\U0001f44d", Why("unrecognised")),
    ("csat-thumbs-up-is-no-score", "csat", "text", "en", "\U0001f44d", Why("unrecognised")),
    ("nps-other-scale", "nps", "text", "en", "4/5", Why("ambiguous")),
    ("nps-word-noise", "nps", "text", "en", "great", Why("unrecognised")),
    ("nps-no", "nps", "text", "en", "no", REPROMPT),
    ("nps-end-label", "nps", "text", "en", "Extremely likely", 10),
    ("nps-end-label-typo", "nps", "text", "en", "extremly likely", 10),
    ("nps-min-label", "nps", "text", "en", "not at all likely", 0),
    ("nps-label-agrees", "nps", "text", "en", "10 - extremely likely", 10),
    ("nps-label-disagrees", "nps", "text", "en", "3, extremely likely", Why("ambiguous")),
    # ---- NPS, Chinese
    ("nps-fen", "nps", "text", "zh-CN", "8分", 8),
    ("nps-ba-fen", "nps", "text", "zh-CN", "八分", 8),
    ("nps-shi-fen", "nps", "text", "zh-CN", "十分", 10),
    ("nps-jiu", "nps", "text", "zh-CN", "九", 9),
    ("nps-da", "nps", "text", "zh-CN", "打9分", 9),
    ("nps-gei", "nps", "text", "zh-CN", "给十分", 10),
    ("nps-ling", "nps", "text", "zh-CN", "零", 0),
    ("nps-ling-circle", "nps", "text", "zh-CN", "〇", 0),
    ("nps-ling-fen", "nps", "text", "zh-CN", "零分", 0),
    ("nps-yige", "nps", "text", "zh-CN", "给它一个九分", 9),
    ("nps-fullwidth-fen", "nps", "text", "zh-CN", "１０分", 10),
    ("nps-manfen", "nps", "text", "zh-CN", "满分", 10),
    ("nps-manfen-then", "nps", "text", "zh-CN", "满分十分，我给八分", 8),
    ("nps-fraction", "nps", "text", "zh-CN", "十分之八", 8),
    ("nps-approx", "nps", "text", "zh-CN", "七八分", Why("ambiguous")),
    ("nps-approx-2", "nps", "text", "zh-CN", "八九分吧", Why("ambiguous")),
    ("nps-huo", "nps", "text", "zh-CN", "九或十", Why("ambiguous")),
    ("nps-eleven-zh", "nps", "text", "zh-CN", "十一分", Why("out_of_range")),
    ("nps-ninety", "nps", "text", "zh-CN", "九十分", Why("out_of_range")),
    ("nps-adverb", "nps", "text", "zh-CN", "十分满意", REPROMPT),
    ("nps-end-label-zh", "nps", "text", "zh-CN", "非常可能", 10),
    ("nps-sentence-zh", "nps", "text", "zh-CN", "我会打八分", 8),
    # ---- NPS, speech
    ("nps-speech", "nps", "speech", "en", "nine", 9, {"confidence": 0.9}),
    ("nps-speech-low", "nps", "speech", "en", "nine", NeedsConfirmation(9), {"confidence": 0.3}),
    ("nps-speech-none", "nps", "speech", "en", "eight", 8, {"confidence": None}),
    ("nps-speech-zh-low", "nps", "speech", "zh-CN", "九分", NeedsConfirmation(9), {"confidence": 0.2}),
    ("nps-speech-tutu", "nps", "speech", "en", "tutu", REPROMPT, {"confidence": 0.3}),
    ("nps-speech-sentence", "nps", "speech", "en", "I would say about a seven", 7, {"confidence": 0.8}),
    ("nps-speech-ten", "nps", "speech", "en", "ten out of ten", 10, {"confidence": 0.7}),
    ("nps-speech-cmd-low", "nps", "speech", "en", "repeat", REPEAT, {"confidence": 0.2}),
    ("nps-speech-threshold", "nps", "speech", "en", "six", NeedsConfirmation(6), {"confidence": 0.6, "min_confidence": 0.7}),
    # ---- NPS, keypad
    ("nps-key-10", "nps", "keypad", "en", "10", 10),
    ("nps-key-hash", "nps", "keypad", "en", "10#", 10),
    ("nps-key-0", "nps", "keypad", "en", "0", 0),
    ("nps-key-0-hash", "nps", "keypad", "en", "0#", 0),
    ("nps-key-9", "nps", "keypad", "zh-CN", "9", 9),
    ("nps-key-11", "nps", "keypad", "en", "11", Why("out_of_range")),
    ("nps-key-99", "nps", "keypad", "en", "99", Why("out_of_range")),
    ("nps-key-star", "nps", "keypad", "en", "*", REPEAT),
    ("nps-key-only-hash", "nps", "keypad", "en", "#", Why("empty")),
    ("nps-key-star-in", "nps", "keypad", "en", "1*", REPROMPT),
    # ---- NPS, web / email
    ("nps-web-9", "nps", "web", "en", "9", 9),
    ("nps-web-0", "nps", "web", "en", "0", 0),
    ("nps-web-11", "nps", "web", "en", "11", Why("out_of_range")),
    ("nps-web-word", "nps", "web", "en", "nine", REPROMPT),
    ("nps-web-decimal", "nps", "web", "en", "9.5", REPROMPT),
    ("nps-web-empty", "nps", "web", "en", "", Why("empty")),
    ("nps-web-none", "nps", "web", "en", None, Why("empty")),
    ("nps-email-10", "nps", "email", "en", "10", 10),
    ("nps-web-no-cmd", "nps", "web", "en", "skip", REPROMPT),
    # ---- commands
    ("cmd-repeat", "nps", "text", "en", "repeat", REPEAT),
    ("cmd-again", "nps", "text", "en", "again", REPEAT),
    ("cmd-say-again", "nps", "speech", "en", "say that again", REPEAT),
    ("cmd-please-repeat", "csat", "text", "en", "Please repeat", REPEAT),
    ("cmd-zh-repeat", "nps", "speech", "zh-CN", "重复", REPEAT),
    ("cmd-zh-again", "nps", "speech", "zh-CN", "再说一遍", REPEAT),
    ("cmd-skip", "nps", "text", "en", "skip", SKIP),
    ("cmd-skip-bang", "single", "text", "en", "Skip!", SKIP),
    ("cmd-pass", "nps", "text", "en", "pass", SKIP),
    ("cmd-next", "yes_no", "text", "en", "next", SKIP),
    ("cmd-zh-skip", "nps", "text", "zh-CN", "跳过", SKIP),
    ("cmd-zh-next", "multi", "text", "zh-CN", "下一题", SKIP),
    ("cmd-back", "nps", "text", "en", "back", BACK),
    ("cmd-go-back", "single", "speech", "en", "go back", BACK),
    ("cmd-previous", "nps", "text", "en", "previous", BACK),
    ("cmd-zh-back", "nps", "text", "zh-CN", "返回", BACK),
    ("cmd-zh-prev", "yes_no", "speech", "zh-CN", "上一题", BACK),
    # ---- empty replies
    ("empty-none", "nps", "text", "en", None, Why("empty")),
    ("empty-string", "yes_no", "text", "en", "", Why("empty")),
    ("empty-spaces", "single", "speech", "en", "   ", Why("empty")),
    # ---- CSAT
    ("csat-5", "csat", "text", "en", "5", 5),
    ("csat-1", "csat", "text", "en", "1", 1),
    ("csat-0", "csat", "text", "en", "0", Why("out_of_range")),
    ("csat-6", "csat", "text", "en", "6", Why("out_of_range")),
    ("csat-very-sat", "csat", "text", "en", "very satisfied", 5),
    ("csat-very-dis", "csat", "text", "en", "Very dissatisfied", 1),
    ("csat-dis", "csat", "text", "en", "dissatisfied", 2),
    ("csat-neutral", "csat", "text", "en", "neutral", 3),
    ("csat-neither", "csat", "text", "en", "neither", 3),
    ("csat-sat", "csat", "text", "en", "satisfied", 4),
    ("csat-sentence", "csat", "text", "en", "I'm very satisfied!", 5),
    ("csat-negated", "csat", "text", "en", "not satisfied", REPROMPT),
    ("csat-typo", "csat", "text", "en", "very satisfid", 5),
    ("csat-5-of-5", "csat", "text", "en", "5/5", 5),
    ("csat-4-out-of-5", "csat", "text", "en", "4 out of 5", 4),
    ("csat-10-of-10", "csat", "text", "en", "10/10", REPROMPT),
    ("csat-conflict", "csat", "text", "en", "1, very satisfied", Why("ambiguous")),
    ("csat-two-labels", "csat", "text", "en", "satisfied and dissatisfied", Why("ambiguous")),
    ("csat-zh-1", "csat", "text", "zh-CN", "非常不满意", 1),
    ("csat-zh-2", "csat", "text", "zh-CN", "不满意", 2),
    ("csat-zh-3", "csat", "text", "zh-CN", "一般", 3),
    ("csat-zh-4", "csat", "text", "zh-CN", "满意", 4),
    ("csat-zh-5", "csat", "text", "zh-CN", "非常满意", 5),
    ("csat-zh-hen", "csat", "speech", "zh-CN", "我很满意", 5, {"confidence": 0.9}),
    ("csat-zh-shifen", "csat", "text", "zh-CN", "十分满意", 5),
    ("csat-zh-butai", "csat", "text", "zh-CN", "不太满意", 2),
    ("csat-zh-negated", "csat", "text", "zh-CN", "不是很满意", REPROMPT),
    ("csat-zh-wufen", "csat", "text", "zh-CN", "五分", 5),
    ("csat-zh-manfen", "csat", "text", "zh-CN", "满分", 5),
    ("csat-key-5", "csat", "keypad", "en", "5", 5),
    ("csat-key-0", "csat", "keypad", "en", "0", Why("out_of_range")),
    ("csat-web-4", "csat", "web", "en", "4", 4),
    # ---- CES and rating
    ("ces-7", "ces", "text", "en", "7", 7),
    ("ces-8", "ces", "text", "en", "8", Why("out_of_range")),
    ("ces-0", "ces", "text", "en", "0", Why("out_of_range")),
    ("ces-word", "ces", "speech", "en", "seven", 7),
    ("ces-of-7", "ces", "text", "en", "6/7", 6),
    ("ces-zh", "ces", "text", "zh-CN", "七", 7),
    ("ces-label", "ces", "text", "en", "very easy", 7),
    ("ces-label-min", "ces", "text", "en", "Very difficult", 1),
    ("ces-label-zh", "ces", "speech", "zh-CN", "非常容易", 7),
    ("ces-key-1", "ces", "keypad", "en", "1", 1),
    ("rating-excellent", "rating", "text", "en", "excellent", 5),
    ("rating-typo", "rating", "text", "en", "Excelent", 5),
    ("rating-poor", "rating", "text", "en", "poor", 1),
    ("rating-zh-max", "rating", "text", "zh-CN", "优秀", 5),
    ("rating-zh-min", "rating", "text", "zh-CN", "差", 1),
    ("rating-stars", "rating", "text", "en", "four stars", 4),
    ("rating-3-stars", "rating", "text", "en", "3 stars", 3),
    ("rating-zh-stars", "rating", "text", "zh-CN", "三星", 3),
    ("rating-6", "rating", "text", "en", "6", Why("out_of_range")),
    ("rating-half", "rating", "text", "en", "3.5", Why("not_whole")),
    ("rating10-slash", "rating10", "text", "en", "10/10", 10),
    ("rating10-other-scale", "rating10", "text", "en", "5/5", REPROMPT),
    ("rating10-zero", "rating10", "keypad", "en", "0", Why("out_of_range")),
    ("rating10-web", "rating10", "web", "en", "10", 10),
    # ---- number (whole numbers, 0..1000)
    ("num-words", "number", "text", "en", "twenty two", 22),
    ("num-hyphen", "number", "text", "en", "twenty-two", 22),
    ("num-digits", "number", "text", "en", "22", 22),
    ("num-hundreds", "number", "text", "en", "one hundred and five", 105),
    ("num-a-hundred", "number", "speech", "en", "a hundred", 100),
    ("num-thousands", "number", "text", "en", "1,000", 1000),
    ("num-about", "number", "text", "en", "about 3 times", 3),
    ("num-zero", "number", "text", "en", "zero", 0),
    ("num-zh-times", "number", "text", "zh-CN", "三次", 3),
    ("num-zh-22", "number", "text", "zh-CN", "二十二", 22),
    ("num-zh-liang", "number", "text", "zh-CN", "两百", 200),
    ("num-zh-150", "number", "speech", "zh-CN", "一百五", 150),
    ("num-negative", "number", "text", "en", "-3", Why("out_of_range")),
    ("num-not-whole", "number", "text", "en", "2.5", Why("not_whole")),
    ("num-too-big", "number", "text", "en", "5000", Why("out_of_range")),
    ("num-none", "number", "text", "en", "none", 0),  # "How many times did you call?" "None."
    ("num-or", "number", "text", "en", "3 or 4", Why("ambiguous")),
    ("num-key", "number", "keypad", "en", "42#", 42),
    ("num-key-star", "number", "keypad", "en", "2*5", REPROMPT),
    ("num-web", "number", "web", "en", "42", 42),
    ("num-web-decimal", "number", "web", "en", "4.2", Why("not_whole")),
    ("num-web-word", "number", "web", "en", "abc", REPROMPT),
    # bounds are not numbers: re-prompted; approximations are the respondent's answer
    ("num-more-than", "number", "text", "en", "more than 5", Why("inexact")),
    ("num-at-least", "number", "text", "en", "at least 3", Why("inexact")),
    ("num-plus-sign", "number", "text", "en", "10+", Why("inexact")),
    ("num-plus-word", "number", "speech", "en", "ten plus", Why("inexact")),
    ("num-over", "number", "text", "en", "over 8", Why("inexact")),
    ("num-or-more", "number", "text", "en", "5 or more", Why("inexact")),
    ("num-times-or-more", "number", "text", "en", "5 times or more", Why("inexact")),
    ("num-under", "number", "text", "en", "under 5", Why("inexact")),
    ("num-less-than", "number", "text", "en", "less than ten", Why("inexact")),
    ("num-up-to", "number", "text", "en", "up to 4", Why("inexact")),
    ("num-nearly", "number", "speech", "en", "nearly twenty", Why("inexact")),
    ("num-max", "number", "text", "en", "3 times max", Why("inexact")),
    ("num-more-than-once", "number", "text", "en", "more than once", Why("inexact")),
    ("num-zh-under", "number", "text", "zh-CN", "不到3次", Why("inexact")),
    ("num-zh-over", "number", "text", "zh-CN", "三次以上", Why("inexact")),
    ("num-zh-at-least", "number", "text", "zh-CN", "至少两次", Why("inexact")),
    ("num-zh-ten-odd", "number", "text", "zh-CN", "十多次", Why("inexact")),
    ("num-zh-exceeds", "number", "speech", "zh-CN", "超过五次", Why("inexact")),
    ("num-zh-almost", "number", "text", "zh-CN", "快10次了", Why("inexact")),
    ("num-around", "number", "text", "en", "around 3", 3),
    ("num-roughly", "number", "speech", "en", "roughly twelve", 12),
    ("num-or-so", "number", "text", "en", "3 or so", 3),
    ("num-tilde", "number", "text", "en", "~3", 3),
    ("num-zh-about", "number", "text", "zh-CN", "大概3次", 3),
    ("num-zh-zuoyou", "number", "text", "zh-CN", "三次左右", 3),
    ("num-zh-minutes", "number", "text", "zh-CN", "3分钟", 3),
    ("num-plus-prefix", "number", "text", "en", "+3", 3),
    ("num-sum", "number", "text", "en", "1+2", Why("ambiguous")),
    # slips of the keyboard in number words, never real words that look alike
    ("num-typo-twnety", "number", "text", "en", "twnety two", 22),
    ("num-typo-fourty", "number", "text", "en", "fourty", 40),
    ("num-typo-thre", "number", "text", "en", "thre times", 3),
    ("num-ought", "number", "text", "en", "it ought to be 3", 3),
    # ---- number (decimals, -10..10)
    ("dec-digits", "decimal", "text", "en", "2.5", 2.5),
    ("dec-half", "decimal", "text", "en", "two and a half", 2.5),
    ("dec-minus", "decimal", "text", "en", "-3", -3),
    ("dec-minus-word", "decimal", "speech", "en", "minus three", -3),
    ("dec-negative-word", "decimal", "text", "en", "negative three", -3),
    ("dec-point", "decimal", "speech", "en", "seven point five", 7.5),
    ("dec-zh-neg", "decimal", "text", "zh-CN", "负三", -3),
    ("dec-zh-point", "decimal", "text", "zh-CN", "三点五", 3.5),
    ("dec-zh-half", "decimal", "text", "zh-CN", "两个半", 2.5),
    ("dec-whole", "decimal", "text", "en", "7", 7),
    ("dec-over", "decimal", "text", "en", "11", Why("out_of_range")),
    ("dec-key", "decimal", "keypad", "en", "2*5", 2.5),
    ("dec-web", "decimal", "web", "en", "-2.5", -2.5),
    # ---- yes / no, English
    ("yn-y", "yes_no", "text", "en", "y", True),
    ("yn-yes", "yes_no", "text", "en", "Yes!", True),
    ("yn-yep", "yes_no", "text", "en", "yep", True),
    ("yn-yeah", "yes_no", "speech", "en", "yeah", True),
    ("yn-yup", "yes_no", "text", "en", "yup", True),
    ("yn-sure", "yes_no", "text", "en", "sure", True),
    ("yn-of-course", "yes_no", "text", "en", "of course", True),
    ("yn-correct", "yes_no", "text", "en", "correct", True),
    ("yn-absolutely", "yes_no", "text", "en", "absolutely", True),
    ("yn-definitely", "yes_no", "text", "en", "definitely", True),
    ("yn-it-was", "yes_no", "speech", "en", "it was", True),
    ("yn-yes-it-was", "yes_no", "text", "en", "yes it was", True),
    ("yn-n", "yes_no", "text", "en", "n", False),
    ("yn-no", "yes_no", "text", "en", "No.", False),
    ("yn-nope", "yes_no", "text", "en", "nope", False),
    ("yn-nah", "yes_no", "text", "en", "nah", False),
    ("yn-not-really", "yes_no", "speech", "en", "not really", False),
    ("yn-no-it-wasnt", "yes_no", "text", "en", "no it wasn't", False),
    ("yn-curly", "yes_no", "text", "en", "No, it wasn’t", False),
    ("yn-not-at-all", "yes_no", "text", "en", "not at all", False),
    ("yn-absolutely-not", "yes_no", "text", "en", "absolutely not", False),
    ("yn-yes-and-no", "yes_no", "text", "en", "yes and no", Why("ambiguous")),
    ("yn-maybe", "yes_no", "text", "en", "maybe", REPROMPT),
    ("yn-not-sure", "yes_no", "text", "en", "not sure", REPROMPT),
    ("yn-1", "yes_no", "text", "en", "1", True),
    ("yn-2", "yes_no", "text", "en", "2", False),
    ("yn-3", "yes_no", "text", "en", "3", REPROMPT),
    ("yn-blue", "yes_no", "text", "en", "blue", Why("unrecognised")),
    # ---- yes / no, Chinese
    ("yn-zh-shi", "yes_no", "text", "zh-CN", "是", True),
    ("yn-zh-shide", "yes_no", "speech", "zh-CN", "是的", True),
    ("yn-zh-dui", "yes_no", "text", "zh-CN", "对", True),
    ("yn-zh-duide", "yes_no", "text", "zh-CN", "对的", True),
    ("yn-zh-you", "yes_no", "text", "zh-CN", "有", True),
    ("yn-zh-hao", "yes_no", "text", "zh-CN", "好", True),
    ("yn-zh-en", "yes_no", "speech", "zh-CN", "嗯", True),
    ("yn-zh-solved", "yes_no", "text", "zh-CN", "解决了", True),
    ("yn-zh-solved-long", "yes_no", "text", "zh-CN", "问题已经解决了", True),
    ("yn-zh-bu", "yes_no", "text", "zh-CN", "不", False),
    ("yn-zh-bushi", "yes_no", "text", "zh-CN", "不是", False),
    ("yn-zh-fou", "yes_no", "text", "zh-CN", "否", False),
    ("yn-zh-meiyou", "yes_no", "speech", "zh-CN", "没有", False),
    ("yn-zh-mei", "yes_no", "text", "zh-CN", "没", False),
    ("yn-zh-budui", "yes_no", "text", "zh-CN", "不对", False),
    ("yn-zh-not-solved", "yes_no", "text", "zh-CN", "没解决", False),
    ("yn-zh-still-not", "yes_no", "text", "zh-CN", "还没有解决", False),
    ("yn-zh-but-not", "yes_no", "text", "zh-CN", "但是没解决", False),
    ("yn-zh-en-no", "yes_no", "speech", "zh-CN", "嗯，没有", False),
    ("yn-zh-shibushi", "yes_no", "text", "zh-CN", "是不是", Why("ambiguous")),
    ("yn-zh-dunno", "yes_no", "text", "zh-CN", "不知道", REPROMPT),
    # ---- yes / no, keypad, web, low-confidence speech
    ("yn-key-1", "yes_no", "keypad", "en", "1", True),
    ("yn-key-2", "yes_no", "keypad", "zh-CN", "2#", False),
    ("yn-key-3", "yes_no", "keypad", "en", "3", REPROMPT),
    ("yn-web-yes", "yes_no", "web", "en", "yes", True),
    ("yn-web-no", "yes_no", "web", "en", "no", False),
    ("yn-web-true", "yes_no", "email", "en", "true", True),
    ("yn-web-maybe", "yes_no", "web", "en", "maybe", REPROMPT),
    ("yn-speech-low", "yes_no", "speech", "en", "yeah", NeedsConfirmation(True), {"confidence": 0.3}),
    ("yn-speech-zh-ok", "yes_no", "speech", "zh-CN", "是的", True, {"confidence": 0.9}),
    # idioms: the longer phrase wins over the short word inside it
    ("yn-no-problem", "yes_no", "text", "en", "no problem", True),
    ("yn-not-a-problem", "yes_no", "speech", "en", "not a problem", True),
    ("yn-no-worries", "yes_no", "text", "en", "No worries!", True),
    ("yn-no-doubt", "yes_no", "text", "en", "no doubt", True),
    ("yn-why-not", "yes_no", "speech", "en", "why not", True),
    ("yn-no-complaints", "yes_no", "text", "en", "no complaints", True),
    ("yn-yes-no-problem", "yes_no", "text", "en", "yes, no problem", True),
    ("yn-exactly", "yes_no", "text", "en", "exactly", True),
    ("yn-you-bet", "yes_no", "text", "en", "you bet", True),
    ("yn-fixed", "yes_no", "text", "en", "it's fixed now", True),
    ("yn-not-fixed", "yes_no", "text", "en", "it's not fixed", False),
    ("yn-unresolved", "yes_no", "text", "en", "still unresolved", False),
    ("yn-i-guess-so", "yes_no", "speech", "en", "I guess so", True),
    ("yn-i-guess-not", "yes_no", "speech", "en", "I guess not", False),
    ("yn-no-chance", "yes_no", "text", "en", "not a chance", False),
    ("yn-not-really-2", "yes_no", "text", "en", "Not really, no", False),
    ("yn-kind-of", "yes_no", "text", "en", "kind of", Why("ambiguous")),
    ("yn-sort-of", "yes_no", "speech", "en", "sort of", Why("ambiguous")),
    ("yn-i-guess", "yes_no", "text", "en", "I guess", Why("ambiguous")),
    ("yn-not-quite", "yes_no", "text", "en", "not quite", Why("ambiguous")),
    ("yn-not-exactly", "yes_no", "text", "en", "not exactly", Why("ambiguous")),
    ("yn-not-completely", "yes_no", "text", "en", "not completely", Why("ambiguous")),
    ("yn-never-mind", "yes_no", "text", "en", "never mind", Why("ambiguous")),
    ("yn-thumbs-up", "yes_no", "text", "en", "\U0001f44d", True),
    ("yn-thumbs-up-skin", "yes_no", "text", "zh-CN", "\U0001f44d\U0001f3fb", True),
    ("yn-thumbs-down", "yes_no", "text", "en", "\U0001f44e", False),
    ("yn-check", "yes_no", "text", "en", "\u2705", True),
    ("yn-only-symbols", "yes_no", "text", "en", "!!!", Why("unrecognised")),
    ("yn-zh-meimaobing", "yes_no", "text", "zh-CN", "没毛病", True),
    ("yn-zh-meiwenti", "yes_no", "speech", "zh-CN", "没问题", True),
    ("yn-zh-meiyouwenti", "yes_no", "text", "zh-CN", "没有问题", True),
    ("yn-zh-should-be-fine", "yes_no", "text", "zh-CN", "应该没问题", True),
    ("yn-zh-still-problem", "yes_no", "text", "zh-CN", "还有问题", False),
    ("yn-zh-muyou", "yes_no", "text", "zh-CN", "木有", False),
    ("yn-zh-muyou-a", "yes_no", "text", "zh-CN", "木有啊", False),
    ("yn-zh-mou", "yes_no", "text", "zh-CN", "冇", False),
    ("yn-zh-meiyou-2", "yes_no", "text", "zh-CN", "没有啊", False),
    ("yn-zh-yebushi", "yes_no", "text", "zh-CN", "也不是", Why("ambiguous")),
    ("yn-zh-buwanquan", "yes_no", "text", "zh-CN", "不完全", Why("ambiguous")),
    ("yn-zh-haixing", "yes_no", "text", "zh-CN", "还行", True),
    ("yn-zh-haixing-but", "yes_no", "text", "zh-CN", "还行，但是没解决", False),
    ("yn-zh-butai", "yes_no", "text", "zh-CN", "不太", False),
    ("yn-zh-butaihao", "yes_no", "text", "zh-CN", "不太好", False),
    ("yn-zh-enen", "yes_no", "speech", "zh-CN", "嗯嗯", True),
    ("yn-zh-duiduidui", "yes_no", "speech", "zh-CN", "对对对", True),
    ("yn-zh-seems-not", "yes_no", "text", "zh-CN", "好像没有", False),
    ("yn-zh-seems-so", "yes_no", "text", "zh-CN", "好像是的", True),
    ("yn-zh-not-sure", "yes_no", "text", "zh-CN", "不太确定", Why("ambiguous")),
    ("yn-zh-so-so", "yes_no", "text", "zh-CN", "马马虎虎", Why("ambiguous")),
    # "no problem" to "Did you have any problems?" is a no
    ("yn-problems-no-problem", "had_problems", "text", "en", "no problem", False),
    ("yn-problems-no-problems", "had_problems", "speech", "en", "No problems at all", False),
    ("yn-problems-zh-meiwenti", "had_problems", "text", "zh-CN", "没问题", False),
    ("yn-problems-zh-youwenti", "had_problems", "text", "zh-CN", "有问题", True),
    ("yn-problems-yes", "had_problems", "text", "en", "yes", True),
    ("yn-problems-nope", "had_problems", "text", "en", "nope", False),
    ("yn-went-wrong-no-problem", "went_wrong", "text", "en", "no problem", False),
    ("yn-went-wrong-zh", "went_wrong", "text", "zh-CN", "没毛病", False),
    # ---- single choice
    # a reply that is a whole word or phrase of exactly one label
    ("single-part-zh", "payment", "text", "zh-CN", "账户", "account"),
    ("single-part-zh-tail", "payment", "text", "zh-CN", "账户吧", "account"),
    ("single-part-en", "payment", "text", "en", "account", "account"),
    ("single-part-card", "payment", "speech", "en", "card", "card"),
    ("single-part-cash-zh", "payment", "text", "zh-CN", "现金", "cash"),
    ("single-part-shared", "payment", "text", "en", "payment", Why("ambiguous")),
    ("single-part-shared-zh", "payment", "text", "zh-CN", "支付", Why("ambiguous")),
    ("single-part-function-word", "payment", "text", "zh-CN", "我的", Why("unrecognised")),
    ("single-part-my", "payment", "text", "en", "my", Why("unrecognised")),
    ("single-part-not-a-word", "payment", "text", "en", "pay", Why("unrecognised")),
    ("single-part-quality", "single", "text", "en", "quality", "product"),
    ("single-part-zhiliang", "single", "text", "zh-CN", "质量", "product"),
    ("single-num", "single", "text", "en", "2", "delivery"),
    ("single-paren", "single", "text", "en", "2)", "delivery"),
    ("single-dot", "single", "text", "en", "2.", "delivery"),
    ("single-hash", "single", "text", "en", "#2", "delivery"),
    ("single-option", "single", "text", "en", "option 2", "delivery"),
    ("single-option-word", "single", "speech", "en", "option two", "delivery"),
    ("single-ordinal", "single", "speech", "en", "the second one", "delivery"),
    ("single-pick", "single", "text", "en", "I'd pick two", "delivery"),
    ("single-zh-ordinal", "single", "text", "zh-CN", "第二个", "delivery"),
    ("single-zh-num", "single", "speech", "zh-CN", "二", "delivery"),
    ("single-code-caps", "single", "text", "en", "BILLING", "billing"),
    ("single-label", "single", "text", "en", "Billing.", "billing"),
    ("single-typo", "single", "text", "en", "biling", "billing"),
    ("single-typo-2", "single", "text", "en", "Delivry", "delivery"),
    ("single-in-sentence", "single", "text", "en", "it was about billing", "billing"),
    ("single-typo-sentence", "single", "speech", "en", "it was the delivry", "delivery"),
    ("single-alias", "single", "text", "en", "invoice", "billing"),
    ("single-alias-2", "single", "text", "en", "a shipping problem", "delivery"),
    ("single-zh-label", "single", "text", "zh-CN", "账单", "billing"),
    ("single-zh-label-2", "single", "speech", "zh-CN", "配送", "delivery"),
    ("single-zh-alias", "single", "text", "zh-CN", "快递", "delivery"),
    ("single-zh-sentence", "single", "text", "zh-CN", "关于账单的问题", "billing"),
    ("single-zh-product", "single", "text", "zh-CN", "产品质量", "product"),
    ("single-en-label-zh", "single", "text", "zh-CN", "product quality", "product"),
    ("single-other", "single", "text", "en", "something else", "other"),
    ("single-zh-other", "single", "text", "zh-CN", "其他", "other"),
    ("single-two-labels", "single", "text", "en", "billing and delivery", Why("ambiguous")),
    ("single-5", "single", "text", "en", "5", Why("out_of_range")),
    ("single-0", "single", "text", "en", "0", Why("out_of_range")),
    ("single-nothing", "single", "text", "en", "the weather", Why("unrecognised")),
    ("single-1-or-2", "single", "text", "en", "1 or 2", Why("ambiguous")),
    ("single-num-label-clash", "single", "text", "en", "2 billing", Why("ambiguous")),
    ("single-num-label-agree", "single", "text", "en", "1 billing", "billing"),
    ("single-order", "single", "text", "en", "1", "other", {"choice_order": ORDER}),
    ("single-order-key", "single", "keypad", "en", "1", "other", {"choice_order": ORDER}),
    ("single-order-label", "single", "text", "en", "billing", "billing", {"choice_order": ORDER}),
    ("single-key-3", "single", "keypad", "en", "3", "product"),
    ("single-key-5", "single", "keypad", "en", "5", Why("out_of_range")),
    ("single-key-0", "single", "keypad", "en", "0", Why("out_of_range")),
    ("single-web", "single", "web", "en", "delivery", "delivery"),
    ("single-web-label", "single", "web", "en", "Delivery", REPROMPT),
    ("single-web-bogus", "single", "email", "en", "nope", REPROMPT),
    ("single-speech-low", "single", "speech", "en", "billing", NeedsConfirmation("billing"), {"confidence": 0.2}),
    ("single-many-key-10", "single_many", "keypad", "en", "10", "c10"),
    ("single-many-key-12", "single_many", "keypad", "en", "12#", "c12"),
    ("single-many-key-13", "single_many", "keypad", "en", "13", Why("out_of_range")),
    ("single-many-text-11", "single_many", "text", "en", "11", "c11"),
    # ---- multiple choice
    ("multi-comma", "multi", "text", "en", "1,3", ["billing", "product"]),
    ("multi-and", "multi", "text", "en", "1 and 3", ["billing", "product"]),
    ("multi-space", "multi", "text", "en", "1 3", ["billing", "product"]),
    ("multi-dunhao", "multi", "text", "zh-CN", "1、3", ["billing", "product"]),
    ("multi-reversed", "multi", "text", "en", "3,1", ["billing", "product"]),
    ("multi-dupes", "multi", "text", "en", "1,1,3", ["billing", "product"]),
    ("multi-labels", "multi", "text", "en", "billing and delivery", ["billing", "delivery"]),
    ("multi-labels-comma", "multi", "text", "en", "billing, delivery", ["billing", "delivery"]),
    ("multi-labels-order", "multi", "text", "en", "Delivery and billing", ["billing", "delivery"]),
    ("multi-zh", "multi", "text", "zh-CN", "账单和配送", ["billing", "delivery"]),
    ("multi-zh-dunhao", "multi", "text", "zh-CN", "账单、配送", ["billing", "delivery"]),
    ("multi-zh-nums", "multi", "speech", "zh-CN", "一和三", ["billing", "product"]),
    ("multi-typos", "multi", "text", "en", "biling and delivry", ["billing", "delivery"]),
    ("multi-mixed", "multi", "text", "en", "billing and 3", ["billing", "product"]),
    ("multi-sentence", "multi", "speech", "en", "I had problems with billing and shipping", ["billing", "delivery"]),
    ("multi-glued", "multi", "text", "en", "13", ["billing", "product"]),
    ("multi-one", "multi", "text", "en", "delivery", ["delivery"]),
    ("multi-all", "multi", "text", "en", "all of them", Why("too_many")),
    ("multi-too-many", "multi", "text", "en", "1,2,3,4", Why("too_many")),
    ("multi-or", "multi", "text", "en", "1 or 3", Why("ambiguous")),
    ("multi-oor", "multi", "text", "en", "1,9", Why("out_of_range")),
    ("multi-unknown-part", "multi", "text", "en", "billing and the weather", Why("unrecognised")),
    ("multi-nothing", "multi", "text", "en", "hmm", Why("unrecognised")),
    ("multi-order", "multi", "text", "en", "1,2", ["product", "other"], {"choice_order": ORDER}),
    ("multi-key", "multi", "keypad", "en", "13", ["billing", "product"]),
    ("multi-key-rev", "multi", "keypad", "en", "31#", ["billing", "product"]),
    ("multi-key-5", "multi", "keypad", "en", "5", Why("out_of_range")),
    ("multi-key-0", "multi", "keypad", "en", "0", Why("out_of_range")),
    ("multi-web", "multi", "web", "en", ["delivery", "billing"], ["billing", "delivery"]),
    ("multi-web-dupe", "multi", "web", "en", ["billing", "billing"], ["billing"]),
    ("multi-web-bogus", "multi", "web", "en", ["bogus"], Why("unrecognised")),
    ("multi-web-str", "multi", "email", "en", "delivery", ["delivery"]),
    ("multi-web-empty", "multi", "web", "en", [], Why("empty")),
    ("multi-chat-list", "multi", "text", "en", ["product", "billing"], ["billing", "product"]),
    ("multi-min-too-few", "multi_min2", "text", "en", "1", Why("too_few")),
    ("multi-min-ok", "multi_min2", "text", "en", "1,2", ["billing", "delivery"]),
    ("multi-all-ok", "multi_min2", "text", "zh-CN", "全部", ["billing", "delivery", "product", "other"]),
    ("multi-many-key", "multi_many", "keypad", "en", "10*12", ["c10", "c12"]),
    ("multi-many-text", "multi_many", "text", "en", "10, 12", ["c10", "c12"]),
    # ---- text
    ("text-stripped", "text", "text", "en", "  great service  ", "great service"),
    ("text-zh", "text", "text", "zh-CN", "服务很好", "服务很好"),
    ("text-no", "text", "text", "en", "no", "no"),
    ("text-number", "text", "text", "en", "10", "10"),
    ("text-skip", "text", "text", "en", "skip", SKIP),
    ("text-repeat", "text", "speech", "en", "repeat", REPEAT),
    ("text-sentence-skip", "text_long", "text", "en", "Skip the hold music next time", "Skip the hold music next time"),
    ("text-too-long", "text", "text", "en", "x" * 21, Why("too_long")),
    ("text-max", "text", "text", "en", "x" * 20, "x" * 20),
    ("text-empty", "text", "text", "en", "", Why("empty")),
    ("text-key", "text", "keypad", "en", "1", REPROMPT),
    ("text-web", "text", "web", "en", " fine ", "fine"),
    ("text-speech-low", "text", "speech", "en", "great", NeedsConfirmation("great"), {"confidence": 0.3}),
    # ---- messy real-world replies (SMS, chat and speech), English and Chinese
    ("messy-nps-ellipsis-zh", "nps", "text", "zh-CN", "嗯…7分吧", 7),
    ("messy-nps-ellipsis-en", "nps", "text", "en", "um... 8", 8),
    ("messy-nps-give-zh", "nps", "text", "zh-CN", "给个8分吧", 8),
    ("messy-nps-bangs-zh", "nps", "text", "zh-CN", "10分！！！", 10),
    ("messy-nps-zero-zh", "nps", "text", "zh-CN", "0分，太差了", 0),
    ("messy-nps-range-zh", "nps", "text", "zh-CN", "八到九分", Why("ambiguous")),
    ("messy-nps-guys", "nps", "text", "en", "I'd give you guys a solid 9!!", 9),
    ("messy-nps-half", "nps", "text", "en", "9.5", Why("not_whole")),
    ("messy-nps-maybe-two", "nps", "text", "en", "like a 6 maybe 7", Why("ambiguous")),
    ("messy-nps-would-recommend", "nps", "text", "en", "10/10 would recommend", 10),
    ("messy-nps-fullwidth", "nps", "text", "zh-CN", "８", 8),
    ("messy-nps-prob", "nps", "text", "en", "prob a 7", 7),
    ("messy-nps-other-scale", "nps", "text", "en", "4/5", Why("ambiguous")),
    ("messy-nps-wo-gei", "nps", "text", "zh-CN", "我给十分", 10),
    ("messy-nps-lingfen", "nps", "speech", "zh-CN", "零分", 0),
    ("messy-nps-so-so-zh", "nps", "text", "zh-CN", "一般般吧", REPROMPT),
    ("messy-nps-cant-say-zh", "nps", "text", "zh-CN", "不好说", REPROMPT),
    ("messy-nps-almost-full-zh", "nps", "text", "zh-CN", "几乎满分", REPROMPT),
    ("messy-nps-almost-full-en", "nps", "text", "en", "almost full marks", REPROMPT),
    ("messy-nps-twenty-something", "nps", "text", "zh-CN", "二十几", Why("ambiguous")),
    ("messy-yn-shout", "yes_no", "text", "en", "YES!!", True),
    ("messy-yn-think-so", "yes_no", "text", "en", "Yeah I think so", True),
    ("messy-yn-not-really", "yes_no", "text", "en", "no not really", False),
    ("messy-yn-still-broken", "yes_no", "text", "en", "Nope, still broken", False),
    ("messy-yn-sorted", "yes_no", "speech", "en", "yes it was sorted", True),
    ("messy-yn-sort-of", "yes_no", "text", "en", "sort of", Why("ambiguous")),
    ("messy-yn-not-solved-zh", "yes_no", "text", "zh-CN", "没有解决", False),
    ("messy-yn-solved-thanks-zh", "yes_no", "text", "zh-CN", "解决了，谢谢", True),
    ("messy-yn-not-yet-zh", "yes_no", "text", "zh-CN", "还没有", False),
    ("messy-yn-en-en-zh", "yes_no", "speech", "zh-CN", "嗯嗯", True),
    ("messy-yn-dui-dui-zh", "yes_no", "text", "zh-CN", "对的对的", True),
    ("messy-single-about", "single", "text", "en", "I think it was about billing", "billing"),
    ("messy-single-kuaidi-slow", "single", "text", "zh-CN", "快递太慢了", "delivery"),
    ("messy-single-zhangdan-wenti", "single", "text", "zh-CN", "账单问题", "billing"),
    ("messy-single-option-2", "single", "text", "en", "option 2", "delivery"),
    ("messy-single-second-one", "single", "speech", "en", "the second one", "delivery"),
    ("messy-single-di-er-ge", "single", "text", "zh-CN", "第二个", "delivery"),
    ("messy-single-caps", "single", "text", "en", "DELIVERY", "delivery"),
    ("messy-single-typo", "single", "text", "en", "shiping", "delivery"),
    ("messy-single-either", "single", "text", "en", "billing or delivery", Why("ambiguous")),
    ("messy-single-no-5", "single", "text", "en", "5", Why("out_of_range")),
    ("messy-multi-comma-words", "multi", "text", "en", "billing, delivery", ["billing", "delivery"]),
    ("messy-multi-dunhao", "multi", "text", "zh-CN", "1、3", ["billing", "product"]),
    ("messy-multi-zh-numerals", "multi", "text", "zh-CN", "一和三", ["billing", "product"]),
    ("messy-multi-plus", "multi", "text", "en", "1 + 3", ["billing", "product"]),
    ("messy-multi-both", "multi", "speech", "en", "both billing and delivery", ["billing", "delivery"]),
    ("messy-multi-no-7", "multi", "text", "en", "2 and 7", Why("out_of_range")),
    ("messy-num-ci", "number", "text", "zh-CN", "5次", 5),
    ("messy-num-twice", "number", "text", "en", "twice", 2),
    ("messy-num-once", "number", "speech", "en", "I called once", 1),
    ("messy-num-never", "number", "text", "en", "never", 0),
    ("messy-num-once-or-twice", "number", "text", "en", "once or twice", Why("ambiguous")),
    ("messy-num-couple", "number", "text", "en", "a couple of times", REPROMPT),
    ("messy-num-three-four-zh", "number", "text", "zh-CN", "三四次", Why("ambiguous")),
    ("messy-num-ten-something-zh", "number", "text", "zh-CN", "十几次", Why("ambiguous")),
    ("messy-num-a-few-zh", "number", "text", "zh-CN", "几次", REPROMPT),
    ("messy-csat-unhappy", "csat", "text", "en", "very unhappy", 1),
    ("messy-csat-happy", "csat", "text", "en", "happy", 4),
    ("messy-csat-not-happy", "csat", "text", "en", "not happy", REPROMPT),
    ("messy-csat-hen-manyi", "csat", "text", "zh-CN", "很满意！", 5),
    ("messy-csat-3fen", "csat", "text", "zh-CN", "3分", 3),
    # ---- emoji, read as a person would
    ("emoji-yn-ok", "yes_no", "text", "zh-CN", "\U0001f197", True),
    ("emoji-yn-100", "yes_no", "text", "en", "\U0001f4af", True),
    ("emoji-yn-cross", "yes_no", "text", "en", "\u274e", False),
    ("emoji-yn-thumbs-words", "yes_no", "speech", "en", "thumbs up", True),
    ("emoji-yn-thumbs-down-words", "yes_no", "text", "en", "Thumbs down.", False),
    ("emoji-yn-both", "yes_no", "text", "en", "\U0001f44d\U0001f44e", Why("ambiguous")),
    ("emoji-problems-thumbs", "had_problems", "text", "en", "\U0001f44d", Why("ambiguous")),
    ("emoji-problems-thumbs-zh", "had_problems", "text", "zh-CN", "\U0001f44e", Why("ambiguous")),
    ("emoji-2pt-up", "thumbs", "text", "en", "\U0001f44d", 1),
    ("emoji-2pt-down-skin", "thumbs", "text", "zh-CN", "\U0001f44e\U0001f3fd", 0),
    ("emoji-2pt-smile", "thumbs", "text", "en", "\U0001f642", 1),
    ("emoji-3pt-up", "three", "text", "zh-CN", "\U0001f44d\U0001f44d", 3),
    ("emoji-3pt-angry", "three", "text", "en", "\U0001f621!!", 1),
    ("emoji-3pt-straight-face", "three", "text", "zh-CN", "\U0001f610", 2),
    ("emoji-3pt-mixed", "three", "text", "en", "\U0001f44d\U0001f621", Why("ambiguous")),
    ("emoji-2pt-straight-face", "thumbs", "text", "en", "\U0001f610", Why("ambiguous")),
    ("emoji-csat-stars", "csat", "text", "en", "\u2b50\ufe0f\u2b50\ufe0f\u2b50\ufe0f\u2b50\ufe0f", 4),
    ("emoji-rating-stars", "rating", "text", "zh-CN", "\u2605\u2605", 2),
    ("emoji-nps-stars", "nps", "text", "en", "\u2b50\u2b50\u2b50\u2b50\u2b50", Why("ambiguous")),
    ("emoji-rating10-eight-stars", "rating10", "text", "en", "\u2b50" * 8, 8),
    ("emoji-csat-too-many-stars", "csat", "text", "en", "\u2b50" * 6, Why("out_of_range")),
    ("stars-nps-five-stars", "nps", "text", "en", "5 stars", Why("ambiguous")),
    ("stars-nps-wuxing", "nps", "text", "zh-CN", "五星", Why("ambiguous")),
    ("stars-csat-four-stars", "csat", "text", "en", "4 stars", 4),
    ("stars-csat-wuxing-haoping", "csat", "text", "zh-CN", "五星好评", 5),
    ("stars-rating10-seven-stars", "rating10", "text", "en", "7 stars", 7),
    # ---- a number or choice named to rule it out is no answer
    ("nps-not-5", "nps", "text", "en", "not 5", Why("ambiguous")),
    ("nps-definitely-not-a-ten", "nps", "text", "en", "definitely not a 10", Why("ambiguous")),
    ("nps-would-not-give-5", "nps", "speech", "en", "I wouldn't give you a 5", Why("ambiguous")),
    ("nps-bushi-5fen", "nps", "text", "zh-CN", "不是5分", Why("ambiguous")),
    ("nps-not-bad-8", "nps", "text", "en", "not bad, 8", 8),
    ("nps-not-sure-8", "nps", "text", "en", "not sure, 8", 8),
    ("nps-yifen-dou-buxiang-gei", "nps", "text", "zh-CN", "一分都不想给", 0),
    ("csat-yifen-ye-bugei", "csat", "text", "zh-CN", "一分也不给", Why("out_of_range")),
    ("number-not-5-times", "number", "text", "en", "not 5 times", Why("ambiguous")),
    ("single-not-billing", "single", "text", "en", "not billing", Why("ambiguous")),
    ("single-anything-but-delivery", "single", "text", "en", "anything but delivery", Why("ambiguous")),
    ("single-bushi-zhangdan", "single", "text", "zh-CN", "不是账单", Why("ambiguous")),
    ("single-not-billing-delivery", "single", "text", "en", "not billing, delivery", "delivery"),
    ("single-bushi-zhangdan-shi-peisong", "single", "text", "zh-CN", "不是账单，是配送", "delivery"),
    ("single-never-got-delivery", "single", "text", "en", "I never got my delivery", "delivery"),
    ("single-not-biling-typo", "single", "text", "en", "not biling", Why("ambiguous")),
    ("multi-billing-not-delivery", "multi", "text", "en", "billing, not delivery", Why("ambiguous")),
    ("multi-all-except-billing", "multi", "text", "en", "all except billing", Why("ambiguous")),
    ("yn-n-a", "yes_no", "text", "en", "N/A", Why("ambiguous")),
    ("yn-not-applicable", "yes_no", "text", "en", "not applicable", Why("ambiguous")),
    ("yn-jiejue-yiban", "yes_no", "text", "zh-CN", "解决了一半", Why("ambiguous")),
    # ---- another form of a label's word names the choice
    ("single-billed-twice", "single", "text", "en", "I was billed twice", "billing"),
    ("single-never-delivered", "single", "speech", "en", "it was never delivered", "delivery"),
    ("single-my-invoices", "single", "text", "en", "my invoices", "billing"),
    ("single-billed-and-delivered", "single", "text", "en", "billed and delivered late", Why("ambiguous")),
    ("single-an-issue-names-nothing", "single", "text", "en", "I had an issue", Why("unrecognised")),
    # ---- a number that counts something else is no score
    ("nps-waited-2-hours", "nps", "text", "en", "waited 2 hours", Why("unrecognised")),
    ("nps-called-three-times", "nps", "speech", "en", "I called three times", Why("unrecognised")),
    ("csat-3-days-late", "csat", "text", "en", "3 days late", Why("unrecognised")),
    ("nps-deng-liang-ge-xiaoshi", "nps", "text", "zh-CN", "等了两个小时", Why("unrecognised")),
    ("csat-deng-1-xingqi", "csat", "text", "zh-CN", "等了1星期", Why("unrecognised")),
    ("nps-3ci-dianhua-gei-8fen", "nps", "text", "zh-CN", "打了3次电话，给8分", 8),
    ("nps-hours-then-score", "nps", "text", "en", "waited 2 hours, I'd give 4", 4),
    ("csat-satisfied-despite-days", "csat", "text", "en", "very satisfied despite 3 days", 5),
    ("nps-8-points", "nps", "text", "en", "8 points", 8),
    # ---- "not even once" is zero
    ("number-not-once", "number", "text", "en", "not once", 0),
    ("number-never-once", "number", "speech", "en", "never once", 0),
    ("number-not-a-single-time", "number", "text", "en", "Not a single time!", 0),
    ("number-nothing", "number", "text", "en", "nothing", 0),
    ("number-yici-dou-meiyou", "number", "text", "zh-CN", "一次都没有", 0),
    ("number-yici-ye-mei-da", "number", "speech", "zh-CN", "我一次也没打过", 0),
    ("number-meiyou", "number", "text", "zh-CN", "没有", 0),
    ("number-meiyou-3ci-is-a-bound", "number", "text", "zh-CN", "没有3次", Why("inexact")),
    ("emoji-csat-angry-is-no-point", "csat", "text", "en", "\U0001f621", Why("unrecognised")),
    ("emoji-nps-100", "nps", "text", "en", "\U0001f4af", 10),
    ("emoji-nps-number-wins", "nps", "text", "en", "9 \U0001f4af", 9),
    ("emoji-choice-yes", "offer", "text", "en", "\U0001f44d", "call"),
    ("emoji-choice-no", "offer", "text", "zh-CN", "\u274c", "none"),
    ("emoji-choice-no-yes-label", "single", "text", "en", "\U0001f44d", Why("unrecognised")),
]


def test_table_is_big_and_ids_unique() -> None:
    ids = [row[0] for row in TABLE]
    assert len(ids) >= 170
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("question", "modality", "locale", "raw", "expected", "extra"),
    [pytest.param(*row[1:6], row[6] if len(row) > 6 else {}, id=row[0]) for row in TABLE],
)
def test_table(question: str, modality: str, locale: str, raw: Any, expected: Any, extra: dict) -> None:
    result = understand(Q[question], raw, modality=modality, locale=locale, **extra)  # type: ignore[arg-type]
    if expected is REPROMPT:
        assert isinstance(result, NotUnderstood), result
    elif isinstance(expected, Why):
        assert isinstance(result, NotUnderstood) and result.reason == expected.reason, result
    elif isinstance(expected, (Command, NeedsConfirmation)):
        assert result == expected
        if isinstance(expected, NeedsConfirmation):
            assert type(result.value) is type(expected.value)  # type: ignore[union-attr]
    else:
        assert isinstance(result, Understood), result
        assert result.value == expected
        assert type(result.value) is type(expected)


# -- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9", 9), ("nine", 9), ("twenty two", 22), ("twenty-two", 22), ("九", 9), ("八分", 8),
        ("二十二", 22), ("7.5", 7.5), ("ninety-nine", 99), ("两", 2), ("〇", 0), ("a hundred and one", 101),
        ("9/10", None), ("7 or 8", None), ("", None), ("none", None), ("tutu", None), ("9 and 9", 9),
    ],
)
def test_parse_number(text: str, expected: float | int | None) -> None:
    value = parse_number(text)
    assert value == expected
    if expected is not None:
        assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("yes", True), ("是的", True), ("no", False), ("不是", False), ("yes and no", None),
     ("purple", None), ("", None), ("1", True), ("2", False), ("sure", True), ("没错", True),
     ("no problem", True), ("not a problem", True), ("没问题", True), ("没毛病", True), ("木有", False),
     ("\U0001f44d", True), ("\U0001f44e", False), ("kind of", None), ("why not", True)],
)
def test_understand_yes_no(raw: str, expected: bool | None) -> None:
    assert understand_yes_no(raw, "en") is expected


def test_unknown_modality_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        understand(Q["nps"], "9", modality="fax", locale="en")  # type: ignore[arg-type]


def test_module_is_pure() -> None:
    """The understanding module imports no web, database, telephony or queue library."""
    tree = ast.parse(Path(understanding.__file__).read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "re", "unicodedata", "collections", "dataclasses", "typing",
                     "cn2an", "rapidfuzz", "feedback"}
    assert not roots & {"flask", "sqlalchemy", "twilio", "redis", "rq"}


# -- properties --------------------------------------------------------------------------------

RESULT_TYPES = (Understood, NotUnderstood, Command, NeedsConfirmation)
REASONS = {"empty", "unrecognised", "ambiguous", "inexact", "out_of_range", "not_whole", "too_long", "too_few",
           "too_many"}
MODALITIES = ["keypad", "speech", "text", "web", "email"]

TOKENS = [
    "9", "10", "0", "-3", "2.5", "/", "out of", "or", "and", ",", "、", "和", "#", "*", "nine", "ten",
    "twenty", "two", "hundred", "a", "an", "one", "point", "minus", "half", "九", "十", "分", "两",
    "七八", "零", "点", "负", "满分", "一般", "十分", "满意", "不", "是", "没有", "yes", "no", "not",
    "billing", "biling", "delivery", "账单", "配送", "invoice", "option", "第", "个", "second",
    "very satisfied", "dissatisfied", "extremely likely", "excellent", "skip", "repeat", "all",
    "1", "2", "3", "13", "99999999999999999999", "一二三四五六七八九十百千万亿", "亿亿", "万",
]
sentences = st.lists(st.sampled_from(TOKENS), max_size=8).map(" ".join) | st.lists(
    st.sampled_from(TOKENS), max_size=8
).map("".join)
raw_text = st.one_of(st.none(), st.text(max_size=60), sentences, st.from_regex(r"[0-9*#]{0,6}", fullmatch=True))
raw_any = st.one_of(raw_text, st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["billing", "delivery", "c3"])), max_size=4))


def assert_valid_value(question: Question, value: Any) -> None:
    """An understood value is of the question's type and within its bounds."""
    kind = question.type
    if question.scale_range is not None:
        lo, hi = question.scale_range
        assert type(value) is int and lo <= value <= hi
    elif kind == "number":
        assert type(value) in ((int,) if question.integer else (int, float))
        assert not (isinstance(value, float) and math.isnan(value))
        assert question.min is None or value >= question.min
        assert question.max is None or value <= question.max
    elif kind == "yes_no":
        assert type(value) is bool
    elif kind == "single_choice":
        assert value in question.choice_codes
    elif kind == "multiple_choice":
        assert isinstance(value, list) and value
        assert value == [c for c in question.choice_codes if c in value]  # survey order, no dupes
        assert len(value) >= (question.min_choices or 1)
        assert question.max_choices is None or len(value) <= question.max_choices
    elif kind == "text":
        assert isinstance(value, str) and value == value.strip() and 0 < len(value) <= question.max_length
    else:  # pragma: no cover
        raise AssertionError(kind)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(Q)),
    raw=raw_any,
    modality=st.sampled_from(MODALITIES),
    locale=st.sampled_from(["en", "zh-CN", "fr"]),
    confidence=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    shuffle=st.randoms(use_true_random=False),
)
def test_understand_never_raises_and_values_are_valid(
    name: str, raw: Any, modality: str, locale: str, confidence: float | None, shuffle: Any
) -> None:
    question = Q[name]
    order = list(question.choice_codes)
    shuffle.shuffle(order)
    result = understand(
        question, raw, modality=modality, locale=locale, choice_order=order or None,  # type: ignore[arg-type]
        confidence=confidence,
    )
    assert isinstance(result, RESULT_TYPES)
    if isinstance(result, NotUnderstood):
        assert result.reason in REASONS
    elif isinstance(result, Command):
        assert result.name in ("repeat", "skip", "back")
        assert modality not in ("web", "email")
    elif isinstance(result, NeedsConfirmation):
        assert modality == "speech" and confidence is not None and confidence < 0.5
        assert_valid_value(question, result.value)
    else:
        assert_valid_value(question, result.value)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(Q)), raw=st.text(max_size=200))
def test_arbitrary_text_on_every_type(name: str, raw: str) -> None:
    for modality in MODALITIES:
        result = understand(Q[name], raw, modality=modality, locale="en")  # type: ignore[arg-type]
        assert isinstance(result, RESULT_TYPES)
        if isinstance(result, (Understood, NeedsConfirmation)):
            assert_valid_value(Q[name], result.value)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=60), sentences))
def test_helpers_never_raise(text: str) -> None:
    value = parse_number(text)
    assert value is None or type(value) in (int, float)
    assert understand_yes_no(text, "zh-CN") in (True, False, None)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(["nps", "csat", "ces", "rating", "rating10"]), data=st.data())
def test_every_scale_point_is_understood(name: str, data: st.DataObject) -> None:
    question = Q[name]
    lo, hi = question.scale_range  # type: ignore[misc]
    value = data.draw(st.integers(lo, hi))
    for modality in ("keypad", "text", "speech", "web"):
        assert understand(question, str(value), modality=modality, locale="en") == Understood(value)  # type: ignore[arg-type]
    assert understand(question, str(hi + 1), modality="text", locale="en").reason == "out_of_range"  # type: ignore[union-attr]
