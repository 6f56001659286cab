"""Records and views as JSON answers: one builder per shape of ``receiver.views.answers``,
shared by every route (``deployment_json`` makes a ``DeploymentJson``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from deployers.base import Target
from receiver.bounds import excerpt
from receiver.decide.actions import ActionResult, sorted_tags
from receiver.decide.desk import FreezeResult, VoteResult
from receiver.decide.planner import Explanation, Outlook, TagDecision
from receiver.decide.rules.release import Freeze, ReleaseVerdict, Vote, Wait
from receiver.decide.trust.checks import TagTrust
from receiver.decide.trust.policy import CheckResult
from receiver.decide.words import describe, no_targets
from receiver.store.records import (
    Attempt,
    AuditEntry,
    CatalogTag,
    Deployment,
    RepositoryState,
    StoredEvent,
    StoredNotice,
    StoredRejection,
)
from receiver.views.answers import (
    ActionResultJson,
    ApprovalsJson,
    AttemptJson,
    AuditJson,
    CatalogRepositoryJson,
    ChangeJson,
    CheckedJson,
    CheckJson,
    DeploymentDetailJson,
    DeploymentFieldsJson,
    DeploymentJson,
    EventJson,
    ExplainTargetJson,
    ExplanationJson,
    FreezeAnswerJson,
    FreezeJson,
    NoticeJson,
    OutlookJson,
    PushDecisionJson,
    RejectionDetailJson,
    RejectionJson,
    RepositoryJson,
    TagTrustJson,
    TargetJson,
    VoteJson,
    VoteResultJson,
    WaitJson,
)
from receiver.views.reads import DeploymentView, RepositoryRelease


def event_json(stored: StoredEvent) -> EventJson:
    event = stored.event
    return {
        "id": stored.id,
        "source": event.source,
        "event_id": event.event_id,
        "action": event.action.value,
        "registry": event.registry,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "media_type": event.media_type,
        "actor": event.actor,
        "occurred_at": iso(event.occurred_at),
        "received_at": iso(stored.received_at),
        "status": stored.status.value,
        "attempts": stored.attempts,
        "reason": stored.reason,
    }


def catalog_json(tags: list[CatalogTag]) -> list[CatalogRepositoryJson]:
    """Tags grouped by repository; ``tags`` must be sorted by (registry, repository)."""
    return [
        {
            "registry": registry,
            "repository": repository,
            "tags": [
                {
                    "tag": t.tag,
                    "digest": t.digest,
                    "media_type": t.media_type,
                    "pushed_at": iso(t.pushed_at),
                }
                for t in group
            ],
        }
        for (registry, repository), group in groupby(tags, key=lambda t: (t.registry, t.repository))
    ]


def rejection_json(rejection: StoredRejection) -> RejectionJson:
    """A rejection in a list: its reason cut short (the whole is ``rejection_detail_json``'s)."""
    return {
        "id": rejection.id,
        "source": rejection.source,
        "reason": excerpt(rejection.reason) or "",
        "content_type": rejection.content_type,
        "size": rejection.size,
        "sha256": rejection.sha256,
        "received_at": iso(rejection.received_at),
    }


def rejection_detail_json(rejection: StoredRejection) -> RejectionDetailJson:
    """One rejection: its whole (capped) reason and the kept prefix of its body, as text."""
    return {
        **rejection_json(rejection),
        "reason": rejection.reason,
        "prefix": rejection.prefix.decode("utf-8", "replace"),
    }


def notice_json(n: StoredNotice) -> NoticeJson:
    return {
        "id": n.id,
        "notifier": n.notifier,
        "deployment_id": n.deployment_id,
        "kind": n.kind,
        "status": n.status,
        "attempts": n.attempts,
        "last_error": n.last_error,
        "created_at": iso(n.created_at),
        "sent_at": optional_iso(n.sent_at),
    }


def target_json(target: Target) -> TargetJson:
    return {
        "kind": target.kind,
        "name": target.name,
        "options": dict(target.options),
        "policy": target.policy,
        "notify": list(target.notify),
        "release": dict(target.release),
    }


def repository_json(state: RepositoryState) -> RepositoryJson:
    repo = state.rules
    return {
        "name": repo.name,
        "image": str(repo.image),
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "match_prerelease": repo.match_prerelease,
        "filters": [dict(f) for f in repo.filters],
        "targets": [target_json(t) for t in repo.targets],
        "changed_through_api": list(state.overrides),
        "updated_at": iso(state.updated_at),
    }


def tag_trust_json(found: TagTrust) -> TagTrustJson:
    """What a tag is, as the trust checks see it (``GET /api/v1/repos/{name}``)."""
    return {
        "tag": found.tag,
        "digest": found.digest,
        "platforms": list(found.platforms),
        "signature": check_json(found.signature) if found.signature else None,
        "scan": check_json(found.scan) if found.scan else None,
        "unknown": found.unknown or None,
    }


def audit_json(entry: AuditEntry) -> AuditJson:
    return {
        "actor": entry.actor,
        "field": entry.field,
        "old": entry.old_value,
        "new": entry.new_value,
        "changed_at": iso(entry.changed_at),
    }


def deployment_json(view: DeploymentView) -> DeploymentJson:
    """A deployment, with what it waits for now (when it waits) and the votes cast on it."""
    return {**deployment_fields_json(view), "attempts": view.deployment.attempts}


def deployment_detail_json(
    view: DeploymentView, attempts: Sequence[Attempt]
) -> DeploymentDetailJson:
    """A deployment with every attempt in full."""
    return {**deployment_fields_json(view), "attempts": [attempt_json(a) for a in attempts]}


def deployment_fields_json(view: DeploymentView) -> DeploymentFieldsJson:
    d, verdict = view.deployment, view.verdict
    return {
        "id": d.id,
        "target": target_json(d.target),
        "target_key": d.target.key,
        "repository": d.repository_name,
        "image": str(d.image),
        "tag": d.image.tag,
        "digest": d.image.digest,
        "previous_image": d.previous_image,
        "status": d.status.value,
        "reason": d.reason,
        "trigger": d.trigger,
        "message": d.message,
        "event_id": d.event_id,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "finished_at": optional_iso(d.finished_at),
        "wait": verdict.words if verdict and verdict.waits else None,
        "waits": [wait_json(w) for w in verdict.waits] if verdict else [],
        "release_rules": d.release.describe(),
        "approvals": _approvals_json(d, view.votes),
        "forced_by": d.forced_by,
        "checks": [check_json(c) for c in d.checks],
    }


def check_json(result: CheckResult) -> CheckJson:
    """One trust check's result: ``{check: signature, outcome: passed, words: "verified by key
    ops-2025 (legacy .sig)", reason: ""}``."""
    return {
        "check": result.check.value,
        "outcome": result.outcome.value,
        "words": result.words,
        "reason": result.reason,
    }


def _approvals_json(d: Deployment, votes: Sequence[Vote]) -> ApprovalsJson | None:
    if not d.release.approvals:
        return None
    return {"required": d.release.approvals, "votes": [vote_json(v) for v in votes]}


def wait_json(wait: Wait) -> WaitJson:
    return {"kind": wait.kind.value, "words": wait.words, "until": optional_iso(wait.until)}


def vote_json(vote: Vote) -> VoteJson:
    return {
        "actor": vote.actor,
        "vote": "approve" if vote.approve else "reject",
        "comment": vote.comment,
        "at": iso(vote.at),
    }


def freeze_json(freeze: Freeze) -> FreezeJson:
    return {
        "repository": freeze.repository,
        "reason": freeze.reason,
        "actor": freeze.actor,
        "since": iso(freeze.since),
        "words": freeze.describe(),
    }


def freeze_answer_json(result: FreezeResult) -> FreezeAnswerJson:
    return {
        "freezes": [freeze_json(f) for f in result.freezes],
        "released": list(result.released),
        "message": result.message,
    }


def vote_result_json(result: VoteResult) -> VoteResultJson:
    verdict: ReleaseVerdict = result.verdict
    return {
        "deployment": result.deployment.id,
        "status": result.status.value,
        "counted": result.counted,
        "outcome": verdict.outcome.value,
        "waits": [wait_json(w) for w in verdict.waits],
        "message": result.message,
    }


def attempt_json(a: Attempt) -> AttemptJson:
    return {
        "attempt": a.attempt,
        "worker": a.worker,
        "outcome": a.outcome,
        "message": a.message,
        "started_at": iso(a.started_at),
        "finished_at": optional_iso(a.finished_at),
    }


def outlook_json(o: Outlook) -> OutlookJson:
    return {
        "target": target_json(o.target),
        "running": str(o.running) if o.running else None,
        "image": str(o.image) if o.image else None,
        "deploy": o.deploy,
        "reason": o.reason,
    }


def result_json(result: ActionResult, *, deployers: Sequence[str]) -> ActionResultJson:
    """What an action on a repository changed and started, and, in ``message``, why it
    deployed nothing to a target (``deployers``: the kinds on, named when it found none)."""
    return {
        "repository": repository_json(result.state),
        "changed": changes_json(result.changed),
        "deployments": list(result.deployments),
        "targets": [outlook_json(o) for o in result.outlooks],
        "waiting": dict(result.waiting),
        "message": describe(result, deployers=deployers),
    }


def explanation_json(
    state: RepositoryState,
    catalog: Sequence[CatalogTag],
    explanations: Sequence[Explanation],
    *,
    deployers: Sequence[str],
    release: RepositoryRelease,
) -> ExplanationJson:
    """``/explain``: the repository's rules and tags (newest first), the freezes that hold it,
    and for each target what it would get now, what a push of each tag would do, and why, its
    release rules and the deploy that waits for it (with what it waits for)."""
    order = {tag: i for i, tag in enumerate(sorted_tags([t.tag for t in catalog]))}
    tags = sorted(catalog, key=lambda t: order[t.tag])
    repo = state.rules
    return {
        "repository": repo.name,
        "image": str(repo.image),
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "tags": [{"tag": t.tag, "digest": t.digest, "pushed_at": iso(t.pushed_at)} for t in tags],
        "freezes": [freeze_json(f) for f in release.freezes],
        "targets": [_explain_target_json(e, order, release) for e in explanations],
        "message": None if explanations else no_targets(state, deployers),
    }


def _explain_target_json(
    explanation: Explanation, order: Mapping[str, int], release: RepositoryRelease
) -> ExplainTargetJson:
    target = explanation.outlook.target
    found = release.targets.get(target.key)
    waiting = found.waiting if found else None
    pushes = sorted(explanation.pushes, key=lambda p: order[p.tag.tag])
    return {
        **outlook_json(explanation.outlook),
        "target_key": target.key,
        "configured": explanation.configured,
        "pushes": [push_decision_json(p) for p in pushes],
        "release_rules": list(found.rules) if found else [],
        "waiting": deployment_json(waiting) if waiting else None,
        "checks": _checked_json(found.checked) if found and found.checked else None,
    }


def _checked_json(d: Deployment) -> CheckedJson:
    """A target's last trust checks: which deployment ran them, on which image, and what each
    check said."""
    return {
        "deployment": d.id,
        "image": str(d.image),
        "status": d.status.value,
        "results": [check_json(c) for c in d.checks],
    }


def push_decision_json(pushed: TagDecision) -> PushDecisionJson:
    return {
        "tag": pushed.tag.tag,
        "digest": pushed.tag.digest,
        "deploy": pushed.decision.deploy,
        "adopt": pushed.decision.adopt,
        "reason": pushed.decision.reason,
    }


def changes_json(changed: Mapping[str, tuple[Any, Any]]) -> dict[str, ChangeJson]:
    return {k: {"old": old, "new": new} for k, (old, new) in changed.items()}


def iso(moment: datetime) -> str:
    """An ISO 8601 time."""
    return moment.isoformat()


def optional_iso(moment: datetime | None) -> str | None:
    """An ISO 8601 time, or None."""
    return moment.isoformat() if moment is not None else None
