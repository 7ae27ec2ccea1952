"""The catalogs (#28): every message of the code and templates is in app/locale/messages.pot,
and every language's catalog translates each of them, no more (no stale message) and no less,
with the same placeholders. After changing texts: `make messages`, then translate what is new.
The compiled catalogs are built by `make run` and `make test` (never committed)."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.core import i18n

ROOT = Path(__file__).resolve().parents[2]
POT = i18n.LOCALE_DIR / "messages.pot"
TRANSLATED = [language for language in i18n.LANGUAGES if language.code != "en"]


def message_ids(messages) -> set:
    """Each message as (context, id), an id with its plural as a tuple."""
    return {(m.context, m.id) for m in messages if m.id}


@pytest.fixture(scope="module")
def extracted() -> set:
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, options_map):
        found.add((context, message if isinstance(message, str) else tuple(message)))
    return found


def read_catalog(path: Path):
    with open(path, "rb") as file:
        return read_po(file)


def test_the_template_holds_every_message_of_the_code_and_templates(extracted):
    pot = message_ids(read_catalog(POT))
    missing = sorted(map(str, extracted - pot))[:20]
    stale = sorted(map(str, pot - extracted))[:20]
    assert not missing and not stale, (
        f"app/locale/messages.pot is out of date (run `make messages`): "
        f"not in it {missing}; no longer used {stale}"
    )


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda language: language.code)
def test_each_catalog_translates_every_message_and_no_stale_one(language, extracted):
    path = i18n.LOCALE_DIR / language.code / "LC_MESSAGES" / "messages.po"
    catalog = read_catalog(path)
    have = message_ids(catalog)
    missing = sorted(map(str, extracted - have))[:20]
    stale = sorted(map(str, have - extracted))[:20] + [m.id for m in catalog.obsolete.values()]
    untranslated = [
        m.id
        for m in catalog
        if m.id and (m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)))
    ][:20]
    assert not missing, f"{path}: lacks {missing} (run `make messages`, then translate)"
    assert not stale, f"{path}: has messages no longer used {stale} (run `make messages`)"
    assert not untranslated, f"{path}: not translated (or fuzzy): {untranslated}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()][:10]
    assert not problems, f"{path}: placeholders differ from the message's: {problems}"


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda language: language.code)
def test_each_catalog_is_compiled_and_used(language):
    """`make catalogs` ran (make run and make test do): a translated message comes out."""
    assert (i18n.LOCALE_DIR / language.code / "LC_MESSAGES" / "messages.mo").exists()
    with i18n.using(language):
        assert i18n.gettext("Language") != "Language"
