"""Sign in with Roster: the OpenID Connect endpoints other apps call (app.domain.oauth)."""
