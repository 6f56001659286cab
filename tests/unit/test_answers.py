"""The JSON answers' shapes (``receiver.views.answers``) and ``openapi.yaml`` say the same:
every property the document gives an answer is a key of its shape, and the reverse, all the way
down (nested objects, lists of objects, objects by name); a property the document requires is
a required key. Every operation that answers JSON has its shape here."""

from __future__ import annotations

import types
from typing import Any, NotRequired, Required, Union, get_args, get_origin, get_type_hints

import pytest

from receiver.http.openapi import load_document
from receiver.views import answers
from receiver.views.answers import (
    ActionResultJson,
    CatalogJson,
    DeploymentDetailJson,
    DeploymentListJson,
    ErrorJson,
    EventListJson,
    ExplanationJson,
    FreezeAnswerJson,
    FreezeListJson,
    HealthJson,
    MessageJson,
    NoticeListJson,
    NotifierListJson,
    PlanJson,
    RegistrywatcherRepoJson,
    RegistrywatcherTagJson,
    RejectionDetailJson,
    RejectionListJson,
    ReloadJson,
    RepositoryListJson,
    RepositoryWithAuditJson,
    SourceListJson,
    StatusJson,
    VoteResultJson,
    WebhookSummaryJson,
    WorkloadListJson,
)
from receiver.views.rollout_answers import PromotionJson, RolloutJson, RolloutListJson

DOCUMENT = load_document()
_METHODS = {"get", "put", "post", "delete", "patch"}

#: Each operation's answer (its 2xx JSON body) -> the shape the route builds.
ANSWERS: dict[str, Any] = {
    "ping": MessageJson,
    "healthz": HealthJson,
    "receiveNotification": WebhookSummaryJson,
    "registrywatcherListRepos": dict[str, RegistrywatcherRepoJson],
    "registrywatcherGetTag": RegistrywatcherTagJson,
    "registrywatcherSetTag": MessageJson,
    "registrywatcherResetTag": MessageJson,
    "listRepositories": RepositoryListJson,
    "getRepository": RepositoryWithAuditJson,
    "changeRepository": ActionResultJson,
    "deployRepository": ActionResultJson,
    "explainRepository": ExplanationJson,
    "planRepository": PlanJson,
    "listDeployments": DeploymentListJson,
    "getDeployment": DeploymentDetailJson,
    "approveDeployment": VoteResultJson,
    "rejectDeployment": VoteResultJson,
    "listFreezes": FreezeListJson,
    "freeze": FreezeAnswerJson,
    "unfreeze": FreezeAnswerJson,
    "listEvents": EventListJson,
    "getCatalog": CatalogJson,
    "listRejections": RejectionListJson,
    "getRejection": RejectionDetailJson,
    "listSources": SourceListJson,
    "status": StatusJson,
    "reloadConfig": ReloadJson,
    "listWorkloads": WorkloadListJson,
    "listNotifiers": NotifierListJson,
    "listNotices": NoticeListJson,
    "listRollouts": RolloutListJson,
    "getRollout": RolloutJson,
    "resumeRollout": RolloutJson,
    "abandonRollout": RolloutJson,
    "promoteRepository": PromotionJson,
}
#: Operations whose answer is not a JSON object regdeploy builds: the document itself, metrics.
NOT_SHAPED = {"getOpenapi", "getMetrics"}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        _, _, path = schema["$ref"].partition("#/")
        found: Any = DOCUMENT
        for part in path.split("/"):
            found = found[part]
        schema = {**found, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def object_of(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]] | None:
    """The properties and required names of an object schema (``allOf`` merged, the object
    branch of a ``oneOf``/``anyOf`` with null), or None for a schema that is no object."""
    schema = resolve(schema)
    properties: dict[str, Any] = {}
    required: set[str] = set()
    for part in schema.get("allOf", []):
        found = object_of(part)
        if found is not None:
            properties |= found[0]
            required |= found[1]
    for key in ("oneOf", "anyOf"):
        branches = [found for b in schema.get(key, []) if (found := object_of(b)) is not None]
        if len(branches) == 1:
            properties |= branches[0][0]
            required |= branches[0][1]
    properties |= schema.get("properties", {})
    required |= set(schema.get("required", []))
    if not properties and schema.get("type") != "object":
        return None
    return properties, required


def items_of(schema: dict[str, Any]) -> dict[str, Any] | None:
    schema = resolve(schema)
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key, []):
            if (found := items_of(branch)) is not None:
                return found
    return schema.get("items")


def unwrap(tp: Any) -> Any:
    """``tp`` without ``| None``, ``Required`` and ``NotRequired``."""
    if get_origin(tp) in (Required, NotRequired):
        return unwrap(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        rest = [a for a in get_args(tp) if a is not type(None)]
        return unwrap(rest[0]) if len(rest) == 1 else tp
    return tp


def is_shape(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__required_keys__")


def differences(schema: dict[str, Any], tp: Any, where: str) -> list[str]:
    """Where ``schema`` and the type ``tp`` disagree, one line each."""
    tp = unwrap(tp)
    if is_shape(tp):
        found = object_of(schema)
        if found is None:
            return [f"{where}: the shape {tp.__name__} is an object, the document's is not"]
        properties, required = found
        hints = get_type_hints(tp)
        problems = [
            f"{where}.{k}: documented, not in {tp.__name__}"
            for k in sorted(properties.keys() - hints.keys())
        ]
        problems += [
            f"{where}.{k}: in {tp.__name__}, not documented"
            for k in sorted(hints.keys() - properties.keys())
        ]
        problems += [
            f"{where}.{k}: required by the document, optional in {tp.__name__}"
            for k in sorted(required - tp.__required_keys__)
        ]
        problems += [
            f"{where}.{k}: required in {tp.__name__}, optional in the document"
            for k in sorted(tp.__required_keys__ - required)
        ]
        for key in sorted(properties.keys() & hints.keys()):
            problems += differences(properties[key], hints[key], f"{where}.{key}")
        return problems
    if get_origin(tp) is list:
        items = items_of(schema)
        if items is None:
            return [f"{where}: a list in the shape, no array in the document"]
        return differences(items, get_args(tp)[0], f"{where}[]")
    if get_origin(tp) is dict:
        extra = resolve(schema).get("additionalProperties")
        if isinstance(extra, dict) and is_shape(unwrap(get_args(tp)[1])):
            return differences(extra, get_args(tp)[1], f"{where}{{}}")
    return []


def answer_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            content = resolve(response).get("content", {})
            if "application/json" in content:
                schema: dict[str, Any] = content["application/json"]["schema"]
                return schema
    return None


def json_operations() -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: schema
        for item in DOCUMENT["paths"].values()
        for method, operation in item.items()
        if method in _METHODS and (schema := answer_schema(operation)) is not None
    }


def test_every_operation_that_answers_json_has_its_shape() -> None:
    assert set(json_operations()) - NOT_SHAPED == set(ANSWERS)


@pytest.mark.parametrize("operation", sorted(ANSWERS))
def test_an_answer_shape_and_the_document_name_the_same_properties(operation: str) -> None:
    assert differences(json_operations()[operation], ANSWERS[operation], operation) == []


def test_the_error_answer_has_its_shape() -> None:
    assert differences(DOCUMENT["components"]["schemas"]["Error"], ErrorJson, "Error") == []


#: The document's schemas that have a shape of their name (the others are requests, enums, or
#: parts of answers checked through them).
NAMED = sorted(n for n in DOCUMENT["components"]["schemas"] if hasattr(answers, f"{n}Json"))


@pytest.mark.parametrize("name", NAMED)
def test_a_documented_object_with_a_shape_of_its_name_agrees_with_it(name: str) -> None:
    shape = getattr(answers, f"{name}Json")
    assert differences(DOCUMENT["components"]["schemas"][name], shape, name) == []


def test_the_comparison_finds_a_property_missing_on_either_side() -> None:
    """The check itself can fail: a shape with a key too many and one too few is caught."""
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    }
    assert differences(schema, MessageJson, "x") == [
        "x.a: documented, not in MessageJson",
        "x.b: documented, not in MessageJson",
        "x.message: in MessageJson, not documented",
        "x.a: required by the document, optional in MessageJson",
        "x.message: required in MessageJson, optional in the document",
    ]
