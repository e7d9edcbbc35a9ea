"""Every message the software can show or say has a Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"tr": (2,), "ntr": (2, 3), "N_": None, "_l": None, "lazy_gettext": None, "_": None, "gettext": None,
            "ngettext": (1, 2)}


def _extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_extracted_message_is_translated_to_chinese() -> None:
    with (ROOT / "feedback/translations/zh_CN/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    ids = _extracted()
    assert len(ids) > 100
    missing = sorted(
        i for i in ids
        if catalog.get(i) is None or not catalog.get(i).string or "fuzzy" in catalog.get(i).flags
        or (isinstance(catalog.get(i).string, tuple) and not all(catalog.get(i).string))
    )
    assert missing == [], "run `make extract-messages` and translate: " + "; ".join(missing)


def test_phone_apologies_are_in_the_catalogue() -> None:
    assert {
        "Sorry, something went wrong on our side. Please try again later. Goodbye.",
        "Sorry, this number is not taking surveys at the moment. Goodbye.",
    } <= _extracted()
