"""The pseudo-locale (en_XA) of the catalog test: every message that goes through the catalog
comes out wrapped in ⟦…⟧ and accented, so text on a page that is not wrapped did not go
through it. Placeholders (%(name)s, {name}) and markup stay as they are."""

import re

from babel.support import NullTranslations

_ACCENTED = str.maketrans("aeiouyAEIOUYcnsz", "àéîõûýÀÉÎÕÛÝçñšž")
_KEPT = re.compile(r"(%\([^)]*\)[sdif]|%[sd%]|\{[^}]*\}|<[^>]*>|&[a-z#0-9]+;)")
OPEN, CLOSE = "⟦", "⟧"


def pseudo(message: str) -> str:
    if not message.strip():
        return message
    parts = _KEPT.split(message)
    return (
        OPEN
        + "".join(
            part if index % 2 else part.translate(_ACCENTED) for index, part in enumerate(parts)
        )
        + CLOSE
    )


class PseudoTranslations(NullTranslations):
    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return pseudo(singular if n == 1 else plural)

    def pgettext(self, context: str, message: str) -> str:
        return pseudo(message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return pseudo(singular if n == 1 else plural)
