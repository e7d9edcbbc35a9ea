"""System prompts in the respondent's language, from Babel (gettext) catalogues.

The core uses this directly (no Flask); the web application uses the same
catalogues through Flask-Babel. Catalogues live in ``feedback/translations``;
``make`` compiles them to ``.mo``. When a compiled file is missing (a fresh
checkout used without ``make``) the ``.po`` source is compiled in memory, so
prompts are never silently left in English.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"


def babel_locale(locale: str) -> str:
    """'zh-CN' -> 'zh_CN' (the folder name Babel and gettext use)."""
    parts = locale.replace("-", "_").split("_")
    if len(parts) > 1:
        return parts[0].lower() + "_" + "_".join(parts[1:]).upper()
    return parts[0].lower()


@lru_cache(maxsize=32)
def translations(locale: str) -> NullTranslations:
    name = babel_locale(locale)
    candidates = [name, name.split("_")[0]]
    if name.startswith("zh") and "zh_CN" not in candidates:
        candidates.append("zh_CN")
    for cand in candidates:
        folder = TRANSLATIONS_DIR / cand / "LC_MESSAGES"
        mo = folder / f"{DOMAIN}.mo"
        po = folder / f"{DOMAIN}.po"
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as fh:
                return Translations(fh, domain=DOMAIN)
        if po.exists():
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=cand)
            buf = io.BytesIO()
            write_mo(buf, catalog, use_fuzzy=False)
            buf.seek(0)
            return Translations(buf, domain=DOMAIN)
    return NullTranslations()


def tr(locale: str, message: str, **params: object) -> str:
    """Translate ``message`` into ``locale`` and fill in ``%(name)s`` parameters."""
    text = translations(locale).ugettext(message)
    return text % params if params else text


def ntr(locale: str, singular: str, plural: str, n: int, **params: object) -> str:
    text = translations(locale).ungettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


def join_list(items: list[str], locale: str) -> str:
    """'a, b and c' / 'a、b和c'."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if babel_locale(locale).startswith("zh"):
        return "、".join(items[:-1]) + "和" + items[-1]
    return tr(locale, "%(items)s and %(last)s", items=", ".join(items[:-1]), last=items[-1])
