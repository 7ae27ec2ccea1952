"""The Security page's section on two-factor authentication: what it shows on /account/security and
/admin/security (page_context), on the admin user page (admin_user_context), and its routes."""

from litestar import Request


async def page_context(request: Request) -> dict:
    return {}


async def admin_user_context(request: Request, user: dict) -> dict:
    return {}


ROUTES: list = []
