"""The project's Nomad fake (``tests/support/nomad_fake.py``) served in its own process.

    python -m bench.nomad_runner --port PORT --jobs JOBS.json

JOBS.json lists ``{"id": ..., "image": ..., "meta": {...}}``: each becomes a service job with one
group ``web`` and one Docker task ``server`` running that image, without an update block (its
deploys are done when their evaluation completes). Beside Nomad's API it answers
``GET /_bench/registrations``: every job register call it received, with the wall-clock time it
arrived, the job and the image it set, and the status it answered.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.support.nomad_fake import FakeNomad, make_job, task_images

_STAMPS = web.AppKey("stamps", list)


def build(jobs: list[dict[str, Any]]) -> web.Application:
    fake = FakeNomad()
    for job in jobs:
        groups = {"web": {"server": job["image"]}}
        fake.add_job(make_job(job["id"], groups, meta=job.get("meta"), update=False))
    stamps: list[dict[str, Any]] = []

    @web.middleware
    async def stamp(request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = time.time()
        before = len(fake.registrations)
        try:
            return await handler(request)
        finally:
            for registration in fake.registrations[before:]:
                images = task_images(registration.body.get("Job") or {})
                stamps.append(
                    {
                        "at": arrived,
                        "job": registration.job_id,
                        "image": images.get("web/server", ""),
                        "status": registration.status,
                    }
                )

    app = fake.app()
    app.middlewares.append(stamp)
    app[_STAMPS] = stamps
    app.router.add_get("/_bench/registrations", _registrations)
    return app


async def _registrations(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STAMPS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jobs", type=Path, required=True)
    args = parser.parse_args()
    jobs = json.loads(args.jobs.read_text())
    web.run_app(build(jobs), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
