"""Texts an email's context carries, translated when the email is written, not before.

An email is written in its recipient's language (app.domain.mail.services), which need not be
the language of the request that sends it: a text the context carries (a permission's label, how
long a link is valid, a whole message) is given as `in_reader_language(function, *args)`, and
the function runs (and translates, `_()`) each time the template reads it."""

from babel.support import LazyProxy


def in_reader_language(func, *args) -> LazyProxy:
    """`func(*args)`, a text it translates, made when it is read (as str, %, in a template)."""
    return LazyProxy(func, *args, enable_cache=False)
