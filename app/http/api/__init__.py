"""The native JSON API under /api/v1: a second caller of the same services as the web pages,
served by its own Litestar app (no sessions, no CSRF, no HTML) and described by OpenAPI."""
