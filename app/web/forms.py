"""Reading HTML forms: checkboxes arrive as repeated fields (or not at all), never as JSON."""

from litestar import Request


async def read_form(request: Request) -> dict:
    form = await request.form()
    return {key: form.get(key) for key in form}


async def read_list(request: Request, key: str) -> list[str]:
    form = await request.form()
    return [v for v in form.getall(key) if isinstance(v, str)] if key in form else []


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def safe_next(url: str | None, default: str) -> str:
    """Only a path on this site: never an absolute URL or a scheme-relative one."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default
