"""The OpenAPI document: a valid OpenAPI 3.1 description of exactly the app's routes, served
without a token; every path answers the methods the document lists for it, and any other with
a 405 whose ``Allow`` lists them. (That the app answers as it says is test_api_contract's.)"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from receiver.app import init_app
from receiver.http.errors import CONSOLE
from receiver.http.openapi import load_document
from tests.support.app import StartApp
from tests.support.settings import api_headers, make_config

Client = TestClient[Any, Any]
DOCUMENT = load_document()
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: What the paths are asked with: a repository name with a "/" (a name must not swallow the
#: sub-resources after it), a deployment and a rejection that may not exist, a source.
_PARAMETERS = {"name": "team/app", "id": "1", "source": "registry"}


def documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in _METHODS
    }


def routed() -> set[tuple[str, str]]:
    """The app's routes but the console's: those answer HTML pages to browsers, not the API
    (``receiver.console``; tests/integration/test_console.py tests them)."""
    app = init_app(make_config("postgresql://nobody@127.0.0.1/unused"))
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and not (route.name or "").startswith(CONSOLE)
    }


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT)


def test_every_route_of_the_app_is_documented() -> None:
    assert routed() - documented() == set(), "routes missing from receiver/http/openapi.yaml"


def test_every_documented_operation_has_a_route() -> None:
    assert documented() - routed() == set(), "operations the app does not serve"


@pytest.mark.parametrize(("method", "path", "operation"), operations())
def test_every_operation_documents_its_refusals(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    security = operation.get("security", DOCUMENT["security"])
    scopes = {s for requirement in security for scopes in requirement.values() for s in scopes}
    responses = operation["responses"]
    if security and {} not in security:
        assert "401" in responses
    if any(security):  # a token may be checked, and an address refused for failing too often
        assert "429" in responses
    if "apiToken" in {name for requirement in security for name in requirement}:
        # A read token may GET; anything else is a write and needs the write scope.
        assert ("write" in scopes) == (method != "GET")
        assert ("403" in responses) == (method != "GET")
        assert "400" in responses  # a NUL in the path or the query
    # A body over server.max_body_bytes, where one is read (a route that reads none never
    # answers 413, whatever is sent: POST /tags/{name}/reset, POST /api/v1/reload).
    assert ("413" in responses) == ("requestBody" in operation), (method, path)
    for status, response in responses.items():
        # An error answered by the middleware is a shared response; a route's own answer in its
        # own shape (/healthz's 503 a Health, a refused reload's 422 a Reload) is written out.
        if status.startswith(("4", "5")) and "$ref" not in response:
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            assert schema != {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_errors_are_documented_as_the_error_middleware_answers_them() -> None:
    error = DOCUMENT["components"]["schemas"]["Error"]
    assert error["required"] == ["message"]
    assert set(error["properties"]) == {"message", "field"}
    for name, response in DOCUMENT["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        if name != "RegistrywatcherMessage":
            assert schema == {"$ref": "#/components/schemas/Error"}, name


async def test_the_document_is_served_as_json_without_a_token(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == DOCUMENT


async def test_every_path_answers_its_methods_and_405_with_allow_to_the_others(
    start_app: StartApp,
) -> None:
    """Every documented path asked with every method (a write token, a body that is not an
    object): a documented method gets a status its operation lists, any other a 405 whose
    ``Allow`` lists exactly the path's methods."""
    client, _ = await start_app()
    mismatches = []
    for path, item in DOCUMENT["paths"].items():
        documented = {method.upper() for method in item if method in _METHODS}
        url = path.format(**_PARAMETERS)
        for method in sorted(m.upper() for m in _METHODS):
            response = await client.request(
                method,
                url,
                data=b"[]",
                headers={**api_headers(), "Content-Type": "application/json"},
            )
            allow = set(filter(None, response.headers.get("Allow", "").split(",")))
            if method in documented:
                listed = item[method.lower()]["responses"]
                if str(response.status) not in listed:
                    mismatches.append(f"{method} {url}: {response.status}, not in {sorted(listed)}")
            elif response.status != 405 or allow != documented:
                mismatches.append(
                    f"{method} {url}: {response.status} Allow {sorted(allow)}, expected 405 "
                    f"Allow {sorted(documented)}"
                )
    assert mismatches == []
