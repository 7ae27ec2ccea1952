"""Piccolo's configuration: the database engine chosen by ROSTER_DATABASE_URL, and the apps."""

import os
from urllib.parse import urlsplit

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

from app.sqlite_engine import ReusingSQLiteEngine

DEFAULT_DATABASE_URL = "sqlite:///./roster.sqlite3"


def engine_for(url: str):
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///") or "roster.sqlite3"
        # timeout: how long a writer waits for another's lock before failing.
        return ReusingSQLiteEngine(path=path, timeout=30)
    if scheme in ("postgresql", "postgres"):
        return PostgresEngine(config={"dsn": url}, log_queries=False)
    raise ValueError(
        f"ROSTER_DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}"
    )


DB = engine_for(os.environ.get("ROSTER_DATABASE_URL") or DEFAULT_DATABASE_URL)

APP_REGISTRY = AppRegistry(apps=["app.piccolo_app"])
