"""How an endpoint is named where its URL's secrets must not go (the activity log, emails)."""

from urllib.parse import urlsplit


def shown_url(url: str) -> str:
    """The URL without what may carry a credential: no user, password or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
