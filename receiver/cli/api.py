"""The CLI's one HTTP client: JSON calls to a running regdeploy's API.

Where: ``--url``, else ``$REGDEPLOY_URL``, else ``http://127.0.0.1:$REGDEPLOY_PORT`` (the port
``make run`` and the example configuration serve on), else ``http://127.0.0.1:8080``. The API
token: ``--token``, else ``$REGDEPLOY_TOKEN``, else the file named by ``--token-file`` or
``$REGDEPLOY_TOKEN_FILE``, else ``~/.config/regdeploy/token`` when it exists.

A call the server refuses raises ``ApiCallFailed`` with the server's own ``message``; a server
that does not answer raises ``ServiceUnreachable`` naming the URL. Loopback addresses are never
asked through a proxy from the environment; other addresses are, as curl would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.references import is_loopback
from receiver.errors import ApiCallFailed, ServiceUnreachable

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_URL = f"http://{LOCAL_HOST}:{DEFAULT_PORT}"
URL_VARIABLE = "REGDEPLOY_URL"
PORT_VARIABLE = "REGDEPLOY_PORT"
# The names of the variables that hold the token, not tokens.
TOKEN_VARIABLE = "REGDEPLOY_TOKEN"  # noqa: S105
TOKEN_FILE_VARIABLE = "REGDEPLOY_TOKEN_FILE"  # noqa: S105
DEFAULT_TOKEN_FILE = Path("~/.config/regdeploy/token")
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Api:
    """A running regdeploy at ``url``, called with ``token`` (None: without one)."""

    url: str
    token: str | None = field(default=None, repr=False)
    timeout_seconds: float = TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ApiCallFailed(f"{self.url} is not an http:// or https:// URL")

    def get(self, path: str, query: Mapping[str, str | None] | None = None) -> Any:
        """``GET path?query`` (parameters that are None are left out); the JSON answer."""
        given = {k: v for k, v in (query or {}).items() if v is not None}
        suffix = f"?{urllib.parse.urlencode(given)}" if given else ""
        return self.call("GET", path + suffix)

    def call(
        self, method: str, path: str, body: object = None, *, answers: Collection[int] = ()
    ) -> Any:
        """``method path`` with ``body`` as JSON (None: no body); the JSON answer. A status in
        ``answers`` is an answer too, not a refusal (a refused reload's 422 lists the file's
        problems)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The scheme is http or https (checked when the Api was made).
        request = urllib.request.Request(  # noqa: S310
            self.url.rstrip("/") + path, data=data, method=method, headers=headers
        )
        try:
            with _opener(self.url).open(request, timeout=self.timeout_seconds) as response:
                return _json(response.read(), self.url)
        except urllib.error.HTTPError as error:
            with error:
                if error.code in answers:
                    return _json(error.read(), self.url)
                raise _refusal(error, self.url) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceUnreachable(_unreachable(self.url, exc)) from None


def repository_api_path(name: str, suffix: str = "") -> str:
    """``/api/v1/repos/NAME[/suffix]``; the name's slashes stay, as the API expects them."""
    path = f"/api/v1/repos/{urllib.parse.quote(name, safe='/')}"
    return f"{path}/{suffix}" if suffix else path


def service_url(given: str | None, *, env: Mapping[str, str]) -> str:
    """Where the running regdeploy is (see the module's docstring)."""
    if given:
        return given
    if env.get(URL_VARIABLE):
        return env[URL_VARIABLE]
    try:
        port = configured_port(env)
    except ValueError as exc:
        raise ApiCallFailed(str(exc)) from None
    return DEFAULT_URL if port is None else f"http://{LOCAL_HOST}:{port}"


def configured_port(env: Mapping[str, str]) -> int | None:
    """``$REGDEPLOY_PORT``, the port ``make run`` serves on: None when it is unset or empty;
    ``ValueError`` when it names no port."""
    given = env.get(PORT_VARIABLE, "").strip()
    if not given:
        return None
    if not given.isdigit() or not 1 <= int(given) <= 65535:
        raise ValueError(f"${PORT_VARIABLE} is {given!r}, not a port (1-65535)")
    return int(given)


def read_token(
    given: str | None, token_file: str | None, *, env: Mapping[str, str], home: Path
) -> str | None:
    """The API token from the first place that has one (see the module's docstring)."""
    if given:
        return given
    if env.get(TOKEN_VARIABLE):
        return env[TOKEN_VARIABLE]
    named = token_file or env.get(TOKEN_FILE_VARIABLE)
    path = Path(named) if named else home / DEFAULT_TOKEN_FILE.relative_to("~")
    if named is None and not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ApiCallFailed(f"cannot read the token file {path}: {exc.strerror}") from exc


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(url).hostname or ""
    if is_loopback(host):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _json(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ApiCallFailed(
            f"{url} answered something that is not JSON: is it regdeploy?"
        ) from None


def _refusal(error: urllib.error.HTTPError, url: str) -> ApiCallFailed:
    """The server's own message, or what the answer was when it has none."""
    try:
        message = json.loads(error.read()).get("message")
    except (ValueError, AttributeError, OSError):
        message = None
    if not isinstance(message, str) or not message:
        message = f"{url} answered HTTP {error.code} {error.reason}"
    return ApiCallFailed(message, status=error.code)


def _unreachable(url: str, exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        why = "no answer in time"
    elif isinstance(reason, OSError) and reason.strerror:
        why = reason.strerror.lower()
    else:
        why = str(reason)
    return (
        f"no regdeploy answers at {url} ({why}); start one (`make run`, `regdeploy serve`) or "
        f"give its address with --url, ${URL_VARIABLE} or ${PORT_VARIABLE}"
    )
