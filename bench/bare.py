"""The bare stack for the throughput baseline: a plain Litestar handler answering
the bytes of a page captured from the real app, under the same uvicorn settings as `roster serve`
(app/cli.py: log_config=None, proxy_headers=False).

    python -m bench.bare --port 8123 --body captured.html"""

import argparse
from pathlib import Path

import uvicorn
from litestar import Litestar, Response, get


def bare_app(body: bytes) -> Litestar:
    @get("/{path:path}", sync_to_thread=False)
    def page(path: str) -> Response:
        return Response(body, media_type="text/html; charset=utf-8")

    return Litestar(route_handlers=[page], debug=False)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--body", type=Path, required=True)
    args = p.parse_args()
    app = bare_app(args.body.read_bytes())
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=False)


if __name__ == "__main__":
    main()
