"""The reference: a bare aiohttp app that handles a notification as regdeploy does, minus storage.

    python -m bench.reference --port PORT

``POST /webhooks/registry`` checks the token in constant time, reads the body with the same cap,
parses it with regdeploy's own payload parser (``handlers.formats``) and answers 202 with the
same counts; nothing is stored, logged or decided. What the service costs beyond this is what
storage, deciding and bookkeeping cost. ``GET /ping`` answers when it is up.
"""

from __future__ import annotations

import argparse
import hmac

from aiohttp import web

from bench import pushes
from handlers.formats import parser_for
from receiver.errors import PayloadError

MAX_BODY_BYTES = 1024 * 1024
_EXPECTED = f"Bearer {pushes.SOURCE_TOKEN}".encode()
_PARSE = parser_for("distribution")


async def _read_capped(request: web.Request) -> bytes | None:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.Response:
    if request.match_info["source"] != pushes.SOURCE:
        return web.json_response({"message": "unknown source"}, status=404)
    offered = request.headers.get("Authorization", "").encode("utf-8", "replace")
    if not hmac.compare_digest(offered, _EXPECTED):
        return web.json_response({"message": "missing or wrong token"}, status=401)
    body = await _read_capped(request)
    if body is None:
        return web.json_response({"message": "body too large"}, status=413)
    try:
        parsed = _PARSE(body, request.headers, source=pushes.SOURCE, registry=pushes.REGISTRY)
    except PayloadError:
        return web.json_response(_counts(rejected=1), status=202)
    counts = _counts(
        accepted=len(parsed.events), ignored=parsed.ignored, rejected=1 if parsed.problems else 0
    )
    return web.json_response(counts, status=202)


def _counts(*, accepted: int = 0, ignored: int = 0, rejected: int = 0) -> dict[str, int]:
    return {"accepted": accepted, "duplicate": 0, "ignored": ignored, "rejected": rejected}


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"message": "pong"})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/webhooks/{source}", receive)
    app.router.add_get("/ping", ping)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
