"""Piccolo's configuration: the database engine chosen by ROSTER_DATABASE_URL, and the apps."""

import os

from piccolo.conf.apps import AppRegistry

from app.core.engines import DEFAULT_DATABASE_URL, engine_for

DB = engine_for(os.environ.get("ROSTER_DATABASE_URL") or DEFAULT_DATABASE_URL)

APP_REGISTRY = AppRegistry(apps=["app.schema.piccolo_app"])
