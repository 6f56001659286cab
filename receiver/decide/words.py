"""What regdeploy says it did and why, in one place: the same sentences in the API's answers,
the CLI, the console and the events' reasons (``tests/unit/test_words.py`` holds them in a
table). Values are written as JSON writes them (``true``, ``""``), never as Python's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from handlers.events import Action, Event
from handlers.references import ImageRef, short_digest
from receiver.decide.rules.release import ReleaseOutcome, ReleaseVerdict
from receiver.store.records import AuditEntry, Deployment, RepositoryState

if TYPE_CHECKING:
    from receiver.decide.actions import ActionResult


def changes(changed: Mapping[str, tuple[Any, Any]]) -> str:
    """``pinned_tag: "" → "1.0.0", auto_deploy: true → false``."""
    return ", ".join(change(k, o, n) for k, (o, n) in changed.items())


def change(field: str, old: object, new: object) -> str:
    """``field: old → new``, each value as JSON; an object as its fields
    (``(reason: "x", since: "...")``)."""
    return f"{field}: {_said(old)} → {_said(new)}"


def audit(entry: AuditEntry) -> str:
    """A change of a repository's audit in words: ``field: old → new`` with each value as JSON
    (``pinned_tag: "" → "1.2.0"``, ``auto_deploy: true → false``); a freeze as
    ``freeze: frozen "incident 42"`` or ``freeze: unfrozen (was "incident 42")``; a deploy
    forced past the deploy windows as what it deployed."""
    old, new = entry.old_value, entry.new_value
    if entry.field == "freeze":
        if isinstance(new, dict):
            return f"freeze: frozen {_json(new.get('reason', ''))}"
        was = f" (was {_json(old['reason'])})" if isinstance(old, dict) and "reason" in old else ""
        return f"freeze: unfrozen{was}"
    if entry.field == "force" and isinstance(new, dict):
        ids = ", ".join(str(i) for i in new.get("deployments", [])) or "none"
        return (
            f"force: the {new.get('trigger', 'manual')} deploy of {_json(new.get('tag'))} past "
            f"the deploy windows (deployments {ids})"
        )
    return change(entry.field, old, new)


def _said(value: object) -> str:
    """A value of the audit: JSON, an object as its fields (``(reason: "x", since: "...")``)."""
    if isinstance(value, dict):
        return "(" + ", ".join(f"{key}: {_json(item)}" for key, item in value.items()) + ")"
    return _json(value)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def describe(result: ActionResult, *, deployers: Sequence[str]) -> str:
    """What an action changed and deployed, or why it deployed nothing, target by target.

    ``deployers``: the kinds of deployer that are on, named when no target was found.
    """
    name = result.state.rules.name
    changed = changes(result.changed)
    parts = [f"{name}: {changed}"] if changed else []
    if result.trigger is None:
        return parts[0] if parts else f"{name}: nothing changed"
    if not result.outlooks:
        return "; ".join([*parts, f"nothing deployed: {no_targets(result.state, deployers)}"])
    moving = [o for o in result.outlooks if o.deploy and o.image is not None]
    staying = [o for o in result.outlooks if not o.deploy]
    going = [o for o in moving if o.target.key not in result.waiting]
    held = [o for o in moving if o.target.key in result.waiting]
    if going:
        parts.append(
            "deploying " + ", ".join(f"{o.image.tag} to {o.target.key}" for o in going if o.image)
        )
    for o in held:
        tag = o.image.tag if o.image else "?"
        parts.append(f"{tag} to {o.target.key} waits for: {result.waiting[o.target.key]}")
    if staying:
        lead = "not to" if moving else "nothing deployed:"
        parts.append(f"{lead} " + "; ".join(f"{o.target.key}: {o.reason}" for o in staying))
    return "; ".join(parts)


def no_targets(state: RepositoryState, deployers: Sequence[str]) -> str:
    """Why a repository has no target, and where one would come from."""
    found_by = (
        f"no deployer ({', '.join(deployers)}) found a workload opted in by label or job meta "
        f"running {state.rules.image}"
        if deployers
        else "no deployer is on to find a labelled workload (see `regdeploy status`)"
    )
    return f"{state.rules.name} has no targets: its configuration lists none, and {found_by}"


def foresee(result: ActionResult) -> list[str]:
    """What an action previewed (``preview_change``, ``preview_deploy``) will do, in sentences:
    "web and api will move from 1.4.0 to 1.4.1", then each target that stays, and why."""
    moving: dict[tuple[str, str], list[str]] = {}
    staying: list[str] = []
    for o in result.outlooks:
        if o.deploy and o.image is not None:
            moving.setdefault(_versions(o.running, o.image), []).append(o.target.name)
        else:
            staying.append(f"{o.target.name} stays as it is: {o.reason}")
    lines = [
        f"{_and(names)} will move from {before} to {after}"
        for (before, after), names in moving.items()
    ]
    if result.trigger is not None and not result.outlooks:
        lines.append("no target will move: the repository has no targets")
    return lines + staying


def _versions(before: ImageRef | None, after: ImageRef) -> tuple[str, str]:
    """The two images for people: their tags, with short digests where the tags are the same."""
    if before is None:
        return "nothing", _short(after, digest=False)
    same = before.tag == after.tag
    return _short(before, digest=same), _short(after, digest=same)


def _short(image: ImageRef, *, digest: bool) -> str:
    shown = short_digest(image.digest) if image.digest else ""
    if not image.tag:
        return shown
    return f"{image.tag}@{shown}" if digest and shown else image.tag


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def unplanned(event: Event, *, watched: RepositoryState | None, deployers: Sequence[str]) -> str:
    """Why ``event`` moved nothing: a delete moves no workload; a push of a repository that is
    watched but has no targets says why it has none; of one nobody watches, that nobody does."""
    if event.action is Action.DELETE:
        return "a delete moves no workload"
    if watched is not None:
        return no_targets(watched, deployers)
    image = f"{event.registry}/{event.repository}"
    if not deployers:
        return (
            f"no watched repository uses {image}, and no deployer is on to find a workload "
            "opted in by label or job meta (see `regdeploy status`)"
        )
    return f"no watched repository and no opted-in workload uses {image}"


def vote_words(
    d: Deployment, *, actor: str, approve: bool, counted: bool, verdict: ReleaseVerdict
) -> str:
    """``deployment 7 (team/app 1.2.0 to container:web): approved by admin; waits for: 1 of 2
    approvals (admin)``."""
    what = (
        f"deployment {d.id} ({d.repository_name or d.image.name} {d.image.tag} to {d.target.key})"
    )
    done = ("approved by " if approve else "rejected by ") + actor
    if not counted:
        done = f"{actor} had {'approved' if approve else 'rejected'} it already"
    if verdict.outcome is ReleaseOutcome.RELEASE:
        return f"{what}: {done}; released: it deploys now"
    if verdict.outcome is ReleaseOutcome.WAIT:
        return f"{what}: {done}; waits for: {verdict.words}"
    if verdict.outcome is ReleaseOutcome.REJECTED and counted:
        return f"{what}: {verdict.words}"
    return f"{what}: {done}; {verdict.words}"


def unfrozen_words(
    repository: str | None, *, actor: str, lifted: bool, released: Sequence[int]
) -> str:
    """``team/app unfrozen by admin; released deployments 4, 9`` (or that nothing waited for
    it), or that it was not frozen."""
    what = repository or "every repository"
    if not lifted:
        return f"{what} was not frozen"
    if not released:
        return f"{what} unfrozen by {actor}; no deploy waited for it"
    ids = ", ".join(str(i) for i in released)
    return (
        f"{what} unfrozen by {actor}; released deployment{'s' if len(released) > 1 else ''} {ids}"
    )
