"""Sign in with Roster: an OpenID Connect provider for the portal's other apps."""
