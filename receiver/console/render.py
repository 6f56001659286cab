"""Turning records into the console's HTML: the template environment, the filters the templates
use (times, ages, durations, images, a repository's changes), and ``render``, which adds what
every page shows (who is signed in, the CSRF token for its forms, where the static files are)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from handlers.references import ImageRef, short_digest, short_image
from receiver.bounds import excerpt
from receiver.config.server import Scope
from receiver.decide.words import audit
from receiver.store.records import ConsoleSession

HERE = Path(__file__).parent
#: The name of the route that serves ``static/``.
STATIC = "console.static"
SESSION = web.RequestKey("console_session", ConsoleSession)
#: The pages of the navigation bar: (path, title).
NAVIGATION = (
    ("/", "Overview"),
    ("/repositories", "Repositories"),
    ("/workloads", "Workloads"),
    ("/deployments", "Deployments"),
    ("/rollouts", "Rollouts"),
    ("/explain", "Explain"),
    ("/events", "Events"),
    ("/notices", "Notices"),
)


def setup_templates(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
        trim_blocks=True,
        lstrip_blocks=True,
        filters=FILTERS,
    )


def render_page(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """``template`` as a whole page, with what every page shows."""
    return aiohttp_jinja2.render_template(
        template, request, {**page_context(request), **context}, status=status
    )


def render_fragment(request: web.Request, template: str, context: Mapping[str, Any]) -> str:
    """``template`` as a part of a page (a live update)."""
    return aiohttp_jinja2.render_string(template, request, {**page_context(request), **context})


def page_context(request: web.Request) -> dict[str, Any]:
    session = request.get(SESSION)
    return {
        "session": session,
        "can_write": session is not None and session.scope == Scope.WRITE.value,
        "can_approve": session is not None
        and session.scope in (Scope.APPROVE.value, Scope.WRITE.value),
        "csrf": session.csrf_token if session is not None else "",
        "path": request.path,
        "navigation": NAVIGATION,
        "static": lambda name: static_url(request, name),
    }


def static_url(request: web.Request, name: str) -> str:
    """The URL of a file of ``static/``, with a version that changes with its content."""
    resource = request.app.router[STATIC]
    assert isinstance(resource, web.StaticResource)
    return str(resource.url_for(filename=name, append_version=True))


def when(moment: datetime | None) -> str:
    """A moment in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``moment`` was, roughly: ``42 s``, ``5 min``, ``3 h``, ``2 d``."""
    if moment is None:
        return ""
    return _span(((now or datetime.now(UTC)) - moment).total_seconds())


def duration(start: datetime | None, end: datetime | None) -> str:
    """How long from ``start`` to ``end`` (to now while it runs)."""
    if start is None:
        return ""
    seconds = ((end or datetime.now(UTC)) - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else _span(seconds)


def _span(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def repository_page(name: str) -> str:
    """The page of watched repository ``name`` (which may contain ``/``)."""
    return "/repositories/" + quote(name, safe="/")


def image_text(image: ImageRef | None) -> str:
    """``tag@sha256:abcdef012345``: what a workload runs, for people."""
    return "nothing" if image is None else short_image(image)


def image_html(image: ImageRef | None) -> Markup:
    """``image_text`` for a narrow column: it may break before the digest, which a narrow
    window leaves out (``tag<wbr><span class="digest">@sha256:...</span>``)."""
    tag, at, digest = image_text(image).partition("@")
    if not at:
        return escape(tag)
    return escape(tag) + Markup('<wbr><span class="digest">@') + escape(digest) + Markup("</span>")


def digest_text(digest: str | None) -> str:
    """``sha256:`` and the first 12 hex digits, or nothing."""
    return short_digest(digest) if digest else ""


def older_page(request: web.Request, ids: Sequence[int], listed: int) -> str | None:
    """The link to the next, older page of a list that showed ``ids`` of at most ``listed``
    (None when it showed them all)."""
    if len(ids) < listed or not ids:
        return None
    return str(request.rel_url.update_query(before=str(min(ids))))


FILTERS: dict[str, Callable[..., str]] = {
    "when": when,
    "ago": ago,
    "duration": duration,
    "image": image_text,
    "image_html": image_html,
    "digest": digest_text,
    "repository_page": repository_page,
    "audit": audit,
    "excerpt": lambda text: excerpt(text) or "",
}
