"""Languages: the catalogs (gettext, compiled from app/locale/*/LC_MESSAGES/messages.po by `make
catalogs`), the language of the current request or email (a context variable), and dates,
times and numbers written the way a reader of that language reads them (Babel).

A language has a WHMCS name (what users.language holds, as WHMCS spells it), a locale code (the
catalog's) and a direction. Adding one is a catalog and a line in LANGUAGES."""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from babel import Locale, dates, negotiate_locale
from babel.support import NullTranslations, Translations
from jinja2 import pass_eval_context
from markupsafe import Markup

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


class Language(NamedTuple):
    name: str  # as WHMCS spells it (users.language)
    code: str  # the catalog's locale code
    label: str  # in its own language, for the language menu
    direction: str = "ltr"


LANGUAGES = (
    Language("english", "en", "English"),
    Language("german", "de", "Deutsch"),
    Language("french", "fr", "Français"),
    Language("spanish", "es", "Español"),
    Language("portuguese-br", "pt_BR", "Português (Brasil)"),
    Language("arabic", "ar", "العربية", "rtl"),
)
# Languages WHMCS has that Roster is not written in: a user may hold one (their pages are in
# English); listed by their own names.
OTHER_LANGUAGES = (
    Language("portuguese", "pt_PT", "Português (Portugal)"),
    Language("italian", "it", "Italiano"),
    Language("dutch", "nl", "Nederlands"),
)
ENGLISH = LANGUAGES[0]
BY_NAME = {language.name: language for language in LANGUAGES}
BY_CODE = {language.code: language for language in LANGUAGES}
# The pseudo-locale of the catalog test: every message wrapped and accented (tests only).
PSEUDO = Language("pseudo", "en_XA", "Ƥšéûđö")

_current: ContextVar[Language] = ContextVar("language", default=ENGLISH)
# The reader's time zone (an IANA name their browser gave, app.js's cookie); None: UTC.
_zone_name: ContextVar[str | None] = ContextVar("time_zone", default=None)


def language_named(name: str | None) -> Language:
    """The language a stored name stands for; an unknown one (WHMCS has more) is English."""
    return BY_NAME.get(name or "", ENGLISH)


def current() -> Language:
    return _current.get()


def set_current(language: Language) -> None:
    """For the rest of this request (its task): the middleware's choice."""
    _current.set(language)


def known_zones() -> tuple[str, ...]:
    """The time zones a person may choose: the IANA names of places (and UTC), sorted."""
    return _known_zones()


@lru_cache(maxsize=1)
def _known_zones() -> tuple[str, ...]:
    import zoneinfo

    places = [z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")]
    return ("UTC", *sorted(places))


def clean_zone(name: str | None) -> str | None:
    """A time zone chosen: a known name, or None for "as the browser says" (an empty choice).
    Anything else is refused (DomainError, field time_zone)."""
    if not name:
        return None
    if name not in _known_zones():
        from app.core.errors import DomainError

        raise DomainError(gettext("Choose a time zone from the list."), "time_zone")
    return name


def set_zone(name: str | None) -> None:
    """The reader's time zone for the rest of this request: a known IANA name, else UTC."""
    _zone_name.set(name if name and len(name) <= 64 and _known_zone(name) else None)


@lru_cache(maxsize=512)
def _known_zone(name: str) -> bool:
    try:
        dates.get_timezone(name)
    except LookupError:
        return False
    return True


@contextlib.contextmanager
def using(language: Language) -> Iterator[Language]:
    """Renders something in another language than the request's (an email in its
    recipient's), then goes back."""
    token = _current.set(language)
    try:
        yield language
    finally:
        _current.reset(token)


@lru_cache(maxsize=16)
def translations(code: str) -> NullTranslations:
    """The compiled catalog of a locale; English (the source) and a missing catalog translate
    nothing."""
    if code == "en":
        return NullTranslations()
    if code == PSEUDO.code:
        from app.core.pseudo import PseudoTranslations

        return PseudoTranslations()
    found = Translations.load(str(LOCALE_DIR), [code], DOMAIN)
    return found


def gettext(message: str) -> str:
    return translations(current().code).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current().code).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return str(translations(current().code).pgettext(context, message))


_ = gettext


def N_(message: str) -> str:
    """Marks a text made at import time for the catalog; `_()` translates it where it is used."""
    return message


def install(environment) -> None:
    """Jinja's i18n extension on an environment, its `_`, `gettext`, `ngettext` and `{% trans %}`
    reading the current language; a `{% trans %}` block's whitespace trimmed, so its message is
    the one line a translator sees. The callables are Jinja's "newstyle" ones (values escaped and
    put in by name, `%%` for a literal %), made direct: Jinja's own pass each message through
    three context calls and a format even when it has no value, which was a third of a page's
    render."""
    environment.add_extension("jinja2.ext.i18n")
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext)
    environment.globals.update(
        _=_template_gettext,
        gettext=_template_gettext,
        ngettext=_template_ngettext,
        pgettext=_template_pgettext,
    )


def _finished(eval_ctx, text: str, variables: dict):
    """A translation as a template shows it: markup where the template escapes (the message is
    trusted, its values are escaped by the %), its values put in."""
    if eval_ctx.autoescape:
        text = Markup(text)
    return text % variables if variables or "%" in text else text


@pass_eval_context
def _template_gettext(eval_ctx, message: str, **variables):
    return _finished(eval_ctx, translations(current().code).gettext(message), variables)


@pass_eval_context
def _template_ngettext(eval_ctx, singular: str, plural: str, num: int, **variables):
    variables.setdefault("num", num)
    text = translations(current().code).ngettext(singular, plural, num)
    return _finished(eval_ctx, text, variables)


@pass_eval_context
def _template_pgettext(eval_ctx, context: str, message: str, **variables):
    text = str(translations(current().code).pgettext(context, message))
    return _finished(eval_ctx, text, variables)


def accepted(header: str | None) -> Language:
    """The best of our languages for an Accept-Language header (q-values honoured), else
    English. Asked on every page of a visitor and of staff without a language of their own:
    browsers send a handful of distinct headers, so the answer is kept per header."""
    return _accepted((header or "")[:500])


@lru_cache(maxsize=256)
def _accepted(header: str) -> Language:
    wanted = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            wanted.append((quality, tag.strip()))
    wanted.sort(key=lambda item: -item[0])  # stable: equal weights keep the header's order
    codes = [language.code for language in LANGUAGES]
    chosen = negotiate_locale([tag for _, tag in wanted], codes, sep="-") or negotiate_locale(
        [tag.replace("-", "_") for _, tag in wanted], codes
    )
    if chosen is None:  # "pt" alone, "de-AT": the language without its region
        for _, tag in wanted:
            base = tag.replace("_", "-").split("-")[0].lower()
            chosen = next((c for c in codes if c.split("_")[0] == base), None)
            if chosen:
                break
    return BY_CODE.get(chosen or "en", ENGLISH)


# The locale dates and numbers are written in: English as Britain writes it ("7 Dec 2026,
# 14:05", never the all-numeric 12/7/2026 a reader elsewhere takes for 12 July); the
# pseudo-locale's in Greek, so that no Latin letter of a date passes for text that escaped the
# catalog.
_FORMATS = {"en": "en_GB", PSEUDO.code: "el"}


@lru_cache(maxsize=16)
def locale(code: str) -> Locale:
    return Locale.parse(_FORMATS.get(code, code))


def country_names(countries: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """(code, name) of each country as the reader's language names it (Babel's territories; the
    English name where it has none), in the order of those names."""
    return _country_names(current().code, countries)


@lru_cache(maxsize=16)
def _country_names(code: str, countries: tuple) -> tuple:
    names = locale(code).territories
    named = [(country, names.get(country, english)) for country, english in countries]
    return tuple(sorted(named, key=lambda pair: pair[1].casefold()))


def format_datetime(value: datetime | None, zone: str | None = None) -> str:
    """The day ("7 Dec 2026", the month in words) and the time ("14:05") as the reader's
    language joins them, in their time zone (UTC when not known)."""
    if value is None:
        return gettext("Never")
    here = locale(current().code)
    value = value.astimezone(_zone(zone))
    day = dates.format_skeleton("yMMMd", value, locale=here)
    time = dates.format_time(value, "short", locale=here)
    return str(here.datetime_formats["medium"]).replace("{1}", day).replace("{0}", time)


def format_date(value: datetime | None, zone: str | None = None) -> str:
    """The day, "7 Dec 2026" in English: the month always in words."""
    if value is None:
        return gettext("Never")
    if isinstance(value, datetime):
        value = value.astimezone(_zone(zone))
    return dates.format_skeleton("yMMMd", value, locale=locale(current().code))


def format_full_date(value) -> str:
    """A day written out whole, its weekday first: "Tuesday, 8 December 2026" in English."""
    return dates.format_date(value, "full", locale=locale(current().code))


def format_time(value: datetime | None, zone: str | None = None) -> str:
    """ "14:05" in English, in the reader's time zone."""
    if value is None:
        return gettext("Never")
    return dates.format_time(value.astimezone(_zone(zone)), "short", locale=locale(current().code))


def _zone(name: str | None):
    """The zone named, else the reader's, else UTC."""
    name = name or _zone_name.get()
    if not name or not _known_zone(name):
        return UTC
    return dates.get_timezone(name)
