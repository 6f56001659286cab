"""The shapes of regdeploy's JSON answers: the single source the routes build, the CLI reads and
``openapi.yaml`` is held against (``tests/unit/test_answers.py``: every property the document
names is a key here, and the reverse).

They are ``TypedDict``s because the answers are plain JSON objects already: mypy checks that
every builder (``receiver.views.shapes``) gives exactly these keys and that the CLI reads only
keys that exist, nothing converts at run time, and this module imports nothing of the service, so
the CLI can use it without loading the server. A name ends in ``Json``, as the builder that makes
it (``deployment_json`` makes a ``DeploymentJson``); the document's schema of the same name
without ``Json`` (``Deployment``) describes it.
"""

# Evaluated at once (no ``from __future__ import annotations``): ``NotRequired`` keys must be
# known to Python as it builds each class, not only to mypy.
from typing import Any, NotRequired, TypedDict

# -- what regdeploy received ---------------------------------------------------------------------


class WebhookSummaryJson(TypedDict):
    accepted: int
    duplicate: int
    ignored: int
    rejected: int


class EventJson(TypedDict):
    id: int
    source: str
    event_id: str
    action: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None
    media_type: str | None
    actor: str | None
    occurred_at: str
    received_at: str
    status: str
    attempts: int
    reason: str | None


class CatalogTagJson(TypedDict):
    tag: str
    digest: str
    media_type: str | None
    pushed_at: str


class CatalogRepositoryJson(TypedDict):
    registry: str
    repository: str
    tags: list[CatalogTagJson]


class RejectionJson(TypedDict):
    id: int
    source: str
    reason: str
    content_type: str | None
    size: int
    sha256: str
    received_at: str


class RejectionDetailJson(RejectionJson):
    prefix: str


class SourceJson(TypedDict):
    name: str
    format: str
    registry: str | None
    confirm_digests: bool
    url: str


# -- repositories and what they would do ---------------------------------------------------------


class TargetJson(TypedDict):
    kind: str
    name: str
    options: dict[str, str]
    policy: str | None
    notify: list[str]
    release: dict[str, str]


class RepositoryJson(TypedDict):
    name: str
    image: str
    pinned_tag: str
    auto_deploy: bool
    policy: str
    match_prerelease: bool
    filters: list[dict[str, str]]
    targets: list[TargetJson]
    changed_through_api: list[str]
    updated_at: str


class AuditJson(TypedDict):
    actor: str
    field: str
    old: Any
    new: Any
    changed_at: str


class OutlookJson(TypedDict):
    target: TargetJson
    running: str | None
    image: str | None
    deploy: bool
    reason: str


class ChangeJson(TypedDict):
    old: Any
    new: Any


class ActionResultJson(TypedDict):
    repository: RepositoryJson
    changed: dict[str, ChangeJson]
    deployments: list[int]
    targets: list[OutlookJson]
    waiting: dict[str, str]
    message: str


class PlanJson(TypedDict):
    repository: str
    targets: list[OutlookJson]


# -- deployments and release control -------------------------------------------------------------


class WaitJson(TypedDict):
    kind: str
    words: str
    until: str | None


class VoteJson(TypedDict):
    actor: str
    vote: str
    comment: str
    at: str


class ApprovalsJson(TypedDict):
    required: int
    votes: list[VoteJson]


class CheckJson(TypedDict):
    check: str
    outcome: str
    words: str
    reason: str


class DeploymentFieldsJson(TypedDict):
    id: int
    target: TargetJson
    target_key: str
    repository: str | None
    image: str
    tag: str | None
    digest: str | None
    previous_image: str | None
    status: str
    reason: str
    trigger: str
    message: str | None
    event_id: int | None
    created_at: str
    updated_at: str
    finished_at: str | None
    wait: str | None
    waits: list[WaitJson]
    release_rules: list[str]
    approvals: ApprovalsJson | None
    forced_by: str | None
    checks: list[CheckJson]


class CheckedJson(TypedDict):
    deployment: int
    image: str
    status: str
    results: list[CheckJson]


class DeploymentJson(DeploymentFieldsJson):
    attempts: int


class AttemptJson(TypedDict):
    attempt: int
    worker: str
    outcome: str | None
    message: str | None
    started_at: str
    finished_at: str | None


class DeploymentDetailJson(DeploymentFieldsJson):
    attempts: list[AttemptJson]


class VoteResultJson(TypedDict):
    deployment: int
    status: str
    counted: bool
    outcome: str
    waits: list[WaitJson]
    message: str


class FreezeJson(TypedDict):
    repository: str | None
    reason: str
    actor: str
    since: str
    words: str


class FreezeAnswerJson(TypedDict):
    freezes: list[FreezeJson]
    released: list[int]
    message: str


# -- explanations --------------------------------------------------------------------------------


class PushDecisionJson(TypedDict):
    tag: str
    digest: str
    deploy: bool
    adopt: bool
    reason: str


class ExplainTargetJson(OutlookJson):
    target_key: str
    configured: bool
    pushes: list[PushDecisionJson]
    release_rules: list[str]
    waiting: DeploymentJson | None
    checks: CheckedJson | None


class ExplainTagJson(TypedDict):
    tag: str
    digest: str
    pushed_at: str


class ExplanationJson(TypedDict):
    repository: str
    image: str
    pinned_tag: str
    auto_deploy: bool
    policy: str
    tags: list[ExplainTagJson]
    freezes: list[FreezeJson]
    targets: list[ExplainTargetJson]
    message: str | None


# -- the service ---------------------------------------------------------------------------------


class DatabaseJson(TypedDict):
    embedded: bool
    reachable: bool
    message: str | None


class DeployerHealthJson(TypedDict):
    kind: str
    reachable: bool
    message: str | None


class SwitchJson(TypedDict):
    name: str
    on: bool
    why: str


class WorkerJson(TypedDict):
    enabled: bool


class QueueJson(TypedDict):
    pending_events: int
    oldest_pending_at: str | None
    oldest_pending_age_seconds: float | None
    planned_deploys: int
    running_deploys: int
    waiting_deploys: int
    running: list[DeploymentJson]


class ReconcilerJson(TypedDict):
    enabled: bool
    interval_seconds: float
    holder: str | None
    last_round_at: str | None
    next_round_at: str | None


class ProcessJson(TypedDict):
    id: str
    role: str
    config_path: str
    fingerprint: str
    started_at: str | None
    loaded_at: str
    restart_needed: list[str]
    refused_at: str | None
    refusal: list[str] | None
    seen_at: str | None


class ConfigurationJson(TypedDict):
    process: str
    path: str
    fingerprint: str
    loaded_at: str
    restart_needed: list[str]
    refused_at: str | None
    refusal: list[str] | None
    processes_agree: bool


class StatusJson(TypedDict):
    status: str
    version: str
    database: DatabaseJson
    deployers: list[DeployerHealthJson]
    deployer_switches: list[SwitchJson]
    dry_run: bool
    worker: WorkerJson
    queue: QueueJson | None
    freezes: list[FreezeJson]
    reconciler: ReconcilerJson
    configuration: ConfigurationJson
    processes: list[ProcessJson]


class ReloadJson(TypedDict):
    outcome: str
    path: str
    fingerprint: str
    previous: str
    restart_needed: list[str]
    problems: list[str]
    message: str


class ListingJson(TypedDict):
    kind: str
    listed_at: str | None
    error: str | None


class WorkloadJson(TypedDict):
    target: TargetJson
    target_key: str
    configured: bool
    image: str | None
    tag: str | None
    digest: str | None
    since: str | None


NotifierJson = TypedDict(
    "NotifierJson",
    {
        "name": str,
        "type": str,
        "level": str,
        "started": bool,
        "url": NotRequired[str],
        "host": NotRequired[str],
        "port": NotRequired[int],
        "security": NotRequired[str],
        "from": NotRequired[str],
        "to": NotRequired[list[str]],
    },
)


class NoticeJson(TypedDict):
    id: int
    notifier: str
    deployment_id: int
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: str
    sent_at: str | None


class ErrorJson(TypedDict):
    message: str
    field: NotRequired[str]


class HealthJson(TypedDict):
    status: str
    database: str


# -- registrywatcher's shapes --------------------------------------------------------------------


class RegistrywatcherRepoJson(TypedDict):
    auto_deploy: bool
    pinned_tag: str
    pinned_tag_value: str
    tags: list[str]


class RegistrywatcherTagJson(TypedDict):
    repo_tag: str


class MessageJson(TypedDict):
    message: str


# -- lists, as the routes answer them ------------------------------------------------------------


class EventListJson(TypedDict):
    events: list[EventJson]


class CatalogJson(TypedDict):
    repositories: list[CatalogRepositoryJson]


class RejectionListJson(TypedDict):
    rejections: list[RejectionJson]


class SourceListJson(TypedDict):
    sources: list[SourceJson]


class RepositoryListJson(TypedDict):
    repositories: list[RepositoryJson]


class DeploymentListJson(TypedDict):
    deployments: list[DeploymentJson]


class FreezeListJson(TypedDict):
    freezes: list[FreezeJson]


class WorkloadListJson(TypedDict):
    deployers: list[ListingJson]
    workloads: list[WorkloadJson]


class NotifierListJson(TypedDict):
    notifiers: list[NotifierJson]


class NoticeListJson(TypedDict):
    notices: list[NoticeJson]


class TagTrustJson(TypedDict):
    tag: str
    digest: str
    platforms: list[str]
    signature: CheckJson | None
    scan: CheckJson | None
    unknown: str | None


class RepositoryWithAuditJson(RepositoryJson):
    audit: list[AuditJson]
    tags: list[TagTrustJson]
