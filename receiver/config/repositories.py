"""Watched repositories as the configuration declares them.

The configuration seeds them into PostgreSQL at start; the API may change ``pinned_tag``,
``auto_deploy`` and ``policy`` afterwards, and a later seed leaves those changes alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from deployers.base import Target
from handlers.references import Aliases, ImageName, parse_name
from receiver.config.reader import Reader, at
from receiver.config.registries import RegistryConfig
from receiver.config.rollout import read_compose_rewrite, read_rollout, read_stages
from receiver.config.server import Source
from receiver.config.trust import read_trust
from receiver.decide.rules.policy import parse_filter, parse_policy
from receiver.decide.rules.release import ReleaseRules, parse_count, parse_duration
from receiver.decide.rules.rollout import RolloutPlan, RolloutPolicy
from receiver.decide.rules.windows import read_window
from receiver.decide.trust.policy import TrustPolicy
from receiver.errors import InvalidReference, PolicyError, ReleaseRuleError

#: What holds a repository's deploys back (release control): every key optional.
RELEASE_CONFIG_KEYS = ("windows", "min_age", "settle", "approvals", "approval_deadline")

_KNOWN = {
    "name",
    "image",
    "pinned_tag",
    "auto_deploy",
    "policy",
    "match_prerelease",
    "filters",
    "targets",
    "notify",
    "trust",
    "rollout",
    "stages",
    "compose",
    *RELEASE_CONFIG_KEYS,
}

# Target kinds named by one string: ``{swarm: web}``, ``{container: web}``.
_NAMED_KINDS = ("swarm", "container")


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedRepository:
    """A repository whose pushes move its targets.

    ``pinned_tag`` ``""`` follows the newest release the policy allows; any other value keeps
    the targets on that tag (a push of it with a new digest redeploys).
    """

    name: str
    image: ImageName
    pinned_tag: str = ""
    auto_deploy: bool = True
    policy: str = "minor"
    match_prerelease: bool = True
    filters: tuple[Mapping[str, str], ...] = ()
    targets: tuple[Target, ...] = ()
    notify: tuple[str, ...] = ()
    # Windows, cooldown, settle and approvals; a workload's labels (job meta) may override them.
    release: ReleaseRules = field(default_factory=ReleaseRules)
    # What a digest needs before it is deployed (signatures, scan, platforms): its own
    # ``trust:``, else ``defaults.trust``, else the platform check alone.
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    # Whether ``trust`` is the repository's own section (not the defaults).
    own_trust: bool = False
    # Waves and stages (``rollout:``, else ``defaults.rollout``; ``stages:``): None moves every
    # target at once, as a push always did.
    rollout: RolloutPlan | None = None
    # Whether ``rollout`` is the repository's own section (not the defaults).
    own_rollout: bool = False
    # ``compose: {rewrite: true}``: a tag change is written into a container's compose file.
    compose_rewrite: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Defaults:
    """``defaults:``: what every repository that says nothing of its own takes."""

    trust: TrustPolicy | None = None
    rollout: RolloutPolicy | None = None


def read_defaults(r: Reader, value: object) -> Defaults:
    if value is None:
        return Defaults()
    m = r.mapping(value, "defaults")
    r.unknown(m, "defaults", {"trust", "rollout"})
    return Defaults(
        trust=read_trust(r, m.get("trust"), "defaults.trust"),
        rollout=read_rollout(r, m.get("rollout"), "defaults.rollout"),
    )


def read_repositories(
    r: Reader, value: object, *, defaults: Defaults | None = None
) -> tuple[WatchedRepository, ...]:
    defaults = defaults or Defaults()
    repositories: list[WatchedRepository] = []
    names: set[str] = set()
    for i, m in enumerate(r.items(value, "repositories")):
        path = f"repositories[{i}]"
        r.unknown(m, path, _KNOWN)
        repository = _repository(r, m, path)
        if repository is None:
            continue
        if not repository.own_trust and defaults.trust is not None:
            repository = dataclasses.replace(repository, trust=defaults.trust)
        if not repository.own_rollout and defaults.rollout is not None:
            stages = repository.rollout.stages if repository.rollout else ()
            plan = RolloutPlan(policy=defaults.rollout, stages=stages)
            repository = dataclasses.replace(repository, rollout=plan)
        if repository.name in names:
            r.problems.append(f"{path}.name: {repository.name!r} is used by an earlier repository")
        names.add(repository.name)
        repositories.append(repository)
    return tuple(repositories)


def _repository(r: Reader, m: dict[str, object], path: str) -> WatchedRepository | None:
    image_text = r.text(m, "image", path)
    try:
        image = parse_name(image_text) if image_text else None
    except InvalidReference:
        r.problems.append(f"{at(path, 'image')}: expected host/repository, got {image_text!r}")
        image = None
    policy = r.text(m, "policy", path, "minor")
    try:
        parse_policy(policy)
    except PolicyError as exc:
        r.problems.append(f"{at(path, 'policy')}: {exc}")
    trust = read_trust(r, m.get("trust"), at(path, "trust"))
    policy_of_rollout = read_rollout(r, m.get("rollout"), at(path, "rollout"))
    stages = read_stages(r, m.get("stages"), at(path, "stages"), targets=_targets)
    rollout = (
        RolloutPlan(policy=policy_of_rollout or RolloutPolicy(), stages=stages)
        if policy_of_rollout is not None or stages
        else None
    )
    if image is None:
        return None
    return WatchedRepository(
        name=r.text(m, "name", path, image.repository),
        image=image,
        pinned_tag=r.text(m, "pinned_tag", path, ""),
        auto_deploy=r.boolean(m, "auto_deploy", path, True),
        policy=policy,
        match_prerelease=r.boolean(m, "match_prerelease", path, True),
        filters=_filters(r, m.get("filters"), at(path, "filters")),
        targets=_targets(r, m.get("targets"), at(path, "targets")),
        notify=_names(r, m.get("notify"), at(path, "notify")),
        release=read_release(r, m, path),
        trust=trust or TrustPolicy(),
        own_trust=trust is not None,
        rollout=rollout,
        own_rollout=policy_of_rollout is not None,
        compose_rewrite=read_compose_rewrite(r, m.get("compose"), at(path, "compose")),
    )


def read_release(r: Reader, m: dict[str, object], path: str) -> ReleaseRules:
    """``windows: [{days, from, to, timezone}]``, ``min_age``, ``settle``, ``approval_deadline``
    (durations: 30s, 10m, 24h) and ``approvals`` (a count)."""
    windows = []
    for i, raw in enumerate(r.items(m.get("windows"), at(path, "windows"))):
        try:
            windows.append(read_window(raw))
        except ReleaseRuleError as exc:
            r.problems.append(f"{at(path, 'windows')}[{i}]: {exc}")
    values: dict[str, object] = {}
    for key, parse in (
        ("min_age", parse_duration),
        ("settle", parse_duration),
        ("approval_deadline", parse_duration),
        ("approvals", parse_count),
    ):
        if m.get(key) is None:
            continue
        try:
            values[key] = parse(m[key])
        except ReleaseRuleError as exc:
            r.problems.append(f"{at(path, key)}: {exc}")
    return ReleaseRules(
        windows=tuple(windows),
        min_age=_duration(values.get("min_age")),
        settle=_duration(values.get("settle")),
        approvals=int(values.get("approvals") or 0),  # type: ignore[call-overload]
        approval_deadline=_duration(values.get("approval_deadline")) or None,
    )


def _duration(value: object) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(0)


def _filters(r: Reader, value: object, path: str) -> tuple[Mapping[str, str], ...]:
    filters: list[Mapping[str, str]] = []
    for i, m in enumerate(r.items(value, path)):
        spec = {str(k): str(v) for k, v in m.items()}
        try:
            parse_filter(spec)
        except PolicyError as exc:
            r.problems.append(f"{path}[{i}]: {exc}")
            continue
        filters.append(MappingProxyType(spec))
    return tuple(filters)


def _targets(r: Reader, value: object, path: str) -> tuple[Target, ...]:
    """``{kind, name, options}``, or a shorthand: ``{nomad: {job, group?, task?, namespace?}}``,
    ``{swarm: SERVICE}``, ``{container: NAME}``."""
    targets: list[Target] = []
    for i, m in enumerate(r.items(value, path)):
        where = f"{path}[{i}]"
        if "nomad" in m:
            r.unknown(m, where, {"nomad"})
            target = _nomad_target(r, r.mapping(m["nomad"], at(where, "nomad")), at(where, "nomad"))
        elif shorthand := next((k for k in _NAMED_KINDS if k in m), None):
            r.unknown(m, where, {shorthand})
            name = r.text(m, shorthand, where)
            target = Target(kind=shorthand, name=name) if name else None
        else:
            r.unknown(m, where, {"kind", "name", "options"})
            kind, name = r.text(m, "kind", where), r.text(m, "name", where)
            options = r.mapping(m.get("options", {}), at(where, "options"))
            target = (
                Target(kind=kind, name=name, options=_strings(options)) if kind and name else None
            )
        if target is not None:
            targets.append(target)
    return tuple(targets)


def _nomad_target(r: Reader, m: dict[str, object], where: str) -> Target | None:
    r.unknown(m, where, {"job", "group", "task", "namespace"})
    job = r.text(m, "job", where)
    scope = {key: r.text(m, key, where, "") for key in ("group", "task", "namespace")}
    if not job:
        return None
    return Target(kind="nomad", name=job, options=_strings({k: v for k, v in scope.items() if v}))


def _strings(options: Mapping[str, object]) -> MappingProxyType[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in options.items()})


def _names(r: Reader, value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.problems.append(f"{path}: expected a list of names")
        return ()
    return tuple(value)


def check_trust(
    r: Reader,
    repositories: Sequence[WatchedRepository],
    *,
    registries: Sequence[RegistryConfig],
    sources: Sequence[Source],
    aliases: Aliases,
) -> None:
    """What a repository's trust asks of its registry: Harbor's API for a scan rule, and a
    registry regdeploy may read (``confirm_digests`` not turned off for it) for any check."""
    harbors = {aliases.canonical(g.host) for g in registries if g.harbor is not None}
    unread = {aliases.canonical(s.registry or ""): s.name for s in sources if not s.confirm_digests}
    for i, repo in enumerate(repositories):
        trust, host = repo.trust, aliases.canonical(repo.image.registry)
        path = f"repositories[{i}].trust" + ("" if repo.own_trust else " (from defaults.trust)")
        if trust.scan is not None and host not in harbors:
            r.problems.append(
                f"{path}.scan: registry {repo.image.registry} has no harbor: section under "
                "registries (scan results are read from Harbor's API)"
            )
        explicit = trust.platforms is not None and not trust.platforms.auto
        if host in unread and (trust.signatures or trust.scan or explicit):
            r.problems.append(
                f"{path}: checks read registry {repo.image.registry}, but source "
                f"{unread[host]} has confirm_digests: false for it"
            )
