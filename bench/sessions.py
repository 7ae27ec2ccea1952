"""Logged-in HTTP sessions for the benchmarks: cookies kept by hand (a production server marks
its cookies Secure, which httpx would not send over plain http to 127.0.0.1), the CSRF header
on posts, and the two login forms."""

import httpx


class Cookies:
    """name -> value, from Set-Cookie headers; sent as one Cookie header."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def take(self, response: httpx.Response) -> None:
        for line in response.headers.get_list("set-cookie"):
            pair = line.split(";", 1)[0]
            name, _, value = pair.partition("=")
            expired = "max-age=0" in line.lower().replace(" ", "")
            if expired or value in ("", '""'):
                self.values.pop(name.strip(), None)
            else:
                self.values[name.strip()] = value.strip()

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.values.items())


def headers_for(cookies: Cookies, method: str, extra: dict | None = None) -> dict:
    headers = {"cookie": cookies.header()} if cookies.values else {}
    if method == "POST":
        headers["x-csrftoken"] = cookies.values.get("roster_csrf", "")
    headers.update(extra or {})
    return headers


class Session:
    """A visitor on one server (sync httpx); `get`/`post` keep its cookies."""

    def __init__(self, base_url: str, timeout: float = 60, local_address: str | None = None):
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout, follow_redirects=False, transport=transport
        )
        self.cookies = Cookies()

    def request(self, method: str, path: str, *, data=None, headers=None) -> httpx.Response:
        if method == "POST" and "roster_csrf" not in self.cookies.values:
            self.request("GET", "/login")
        response = self.http.request(
            method, path, data=data, headers=headers_for(self.cookies, method, headers)
        )
        self.http.cookies.clear()
        self.cookies.take(response)
        return response

    def get(self, path: str, **kw) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: dict | None = None, **kw) -> httpx.Response:
        return self.request("POST", path, data=data or {}, **kw)

    def close(self) -> None:
        self.http.close()


def staff_login(base_url: str, email: str, password: str) -> Session:
    session = Session(base_url)
    session.get("/admin/login")
    answer = session.post("/admin/login", {"email": email, "password": password})
    if answer.status_code != 303:
        raise RuntimeError(f"staff login refused: {answer.status_code}")
    return session


def owner_login(base_url: str, email: str, password: str, client_id: int) -> Session:
    session = Session(base_url)
    session.get("/login")
    answer = session.post("/login", {"email": email, "password": password})
    if answer.status_code != 303:
        raise RuntimeError(f"owner login refused: {answer.status_code}")
    select(session, client_id)
    return session


def select(session: Session, client_id: int) -> None:
    answer = session.post(f"/accounts/{client_id}/select")
    if answer.status_code != 303:
        raise RuntimeError(f"choosing account {client_id} refused: {answer.status_code}")
