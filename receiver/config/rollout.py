"""The ``rollout:``, ``stages:`` and ``compose:`` sections of a repository (``rollout`` also under
``defaults:``): in which waves a push moves its targets, through which stages, and whether the
compose file of a container follows a tag change.

    rollout:
      waves: [1, 25%, 100%]       # cumulative: a count or a share of the targets a push moves
      soak: 5m                    # each wave healthy this long before the next starts
      on_failure: rollback        # or halt
      health_timeout: 10m         # a wave's targets healthy within this of their deploys
      verify:
        http: {url: "http://app.internal/healthz", status: 200, timeout: 2s, interval: 5s}
    compose: {rewrite: false}
    stages:
      - {name: staging, select: {label: regdeploy.stage=staging}}
      - {name: prod, select: {targets: [{nomad: {job: app}}]}, promote: {soak: 30m, approvals: 1}}

Every problem is collected with its key path, as everywhere in the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from deployers.base import Target
from receiver.config.reader import Reader, at
from receiver.decide.rules.release import parse_count, parse_duration
from receiver.decide.rules.rollout import (
    HEALTH_TIMEOUT,
    STAGE_LABEL,
    FailureAction,
    HttpCheck,
    Promotion,
    RolloutPolicy,
    Stage,
    WaveSize,
    parse_wave,
)
from receiver.errors import ReleaseRuleError

_ROLLOUT_KEYS = {"waves", "soak", "on_failure", "verify", "health_timeout"}
_HTTP_KEYS = {"url", "status", "timeout", "interval"}
_STAGE_KEYS = {"name", "select", "promote"}


def read_rollout(r: Reader, value: object, path: str) -> RolloutPolicy | None:
    """The ``rollout:`` mapping at ``path``; None when it is absent."""
    if value is None:
        return None
    m = r.mapping(value, path)
    r.unknown(m, path, _ROLLOUT_KEYS)
    on_failure = r.text(m, "on_failure", path, "rollback")
    if on_failure not in {a.value for a in FailureAction}:
        r.problems.append(
            f"{at(path, 'on_failure')}: expected rollback or halt, got {on_failure!r}"
        )
        on_failure = "rollback"
    soak = _duration(r, m, "soak", path, timedelta(0))
    verify = _verify(r, m.get("verify"), at(path, "verify"))
    if verify is not None and not soak:
        r.problems.append(f"{at(path, 'verify')}: is probed during each soak: set a soak too")
    return RolloutPolicy(
        waves=_waves(r, m.get("waves", ["100%"]), at(path, "waves")),
        soak=soak,
        on_failure=FailureAction(on_failure),
        health_timeout=_duration(r, m, "health_timeout", path, HEALTH_TIMEOUT),
        verify=verify,
    )


def read_stages(
    r: Reader,
    value: object,
    path: str,
    *,
    targets: Callable[[Reader, object, str], tuple[Target, ...]],
) -> tuple[Stage, ...]:
    """The ``stages:`` list at ``path`` (``targets`` reads a ``select.targets`` list as a
    repository's ``targets`` are read)."""
    if value is None:
        return ()
    stages: list[Stage] = []
    for i, m in enumerate(r.items(value, path)):
        where = f"{path}[{i}]"
        r.unknown(m, where, _STAGE_KEYS)
        name = r.text(m, "name", where)
        if name and name in {s.name for s in stages}:
            r.problems.append(f"{at(where, 'name')}: {name!r} is used by an earlier stage")
        label, keys = _select(r, m.get("select"), at(where, "select"), targets=targets)
        stages.append(
            Stage(
                name=name,
                label=label,
                targets=keys,
                promote=_promotion(r, m.get("promote"), at(where, "promote")),
            )
        )
    if stages and stages[0].promote != Promotion():
        r.problems.append(
            f"{path}[0].promote: the first stage is not promoted to (pushes reach it)"
        )
    return tuple(stages)


def read_compose_rewrite(r: Reader, value: object, path: str) -> bool:
    """``compose: {rewrite: true}``: whether a tag change is written into the compose file."""
    if value is None:
        return False
    m = r.mapping(value, path)
    r.unknown(m, path, {"rewrite"})
    return r.boolean(m, "rewrite", path, False)


def _waves(r: Reader, value: object, path: str) -> tuple[WaveSize, ...]:
    if not isinstance(value, list) or not value:
        r.problems.append(f"{path}: expected a list such as [1, 25%, 100%]")
        return (WaveSize(percent=100),)
    waves: list[WaveSize] = []
    for i, item in enumerate(value):
        try:
            waves.append(parse_wave(item))
        except ValueError as exc:
            r.problems.append(f"{path}[{i}]: {exc}")
    last = waves[-1] if waves else None
    if last is not None and last.percent != 100:
        r.problems.append(
            f"{path}: the last wave must be 100% (every target moves), got {last.describe()}"
        )
    return tuple(waves) or (WaveSize(percent=100),)


def _verify(r: Reader, value: object, path: str) -> HttpCheck | None:
    if value is None:
        return None
    m = r.mapping(value, path)
    r.unknown(m, path, {"http"})
    if "http" not in m:
        r.problems.append(f"{path}.http: missing")
        return None
    where = at(path, "http")
    http = r.mapping(m["http"], where)
    r.unknown(http, where, _HTTP_KEYS)
    url = r.text(http, "url", where)
    if url and not url.startswith(("http://", "https://")):
        r.problems.append(f"{at(where, 'url')}: expected an http:// or https:// URL, got {url!r}")
    status = r.integer(http, "status", where, 200)
    if not 100 <= status <= 599:
        r.problems.append(f"{at(where, 'status')}: expected an HTTP status, got {status}")
    return HttpCheck(
        url=url,
        status=status,
        timeout=_duration(r, http, "timeout", where, timedelta(seconds=2)),
        interval=_duration(r, http, "interval", where, timedelta(seconds=5)),
    )


def _select(
    r: Reader,
    value: object,
    path: str,
    *,
    targets: Callable[[Reader, object, str], tuple[Target, ...]],
) -> tuple[tuple[str, str] | None, frozenset[str]]:
    m = r.mapping(value, path)
    r.unknown(m, path, {"label", "targets"})
    if ("label" in m) == ("targets" in m):
        r.problems.append(f"{path}: give either label (regdeploy.stage=NAME) or targets")
        return None, frozenset()
    if "targets" in m:
        return None, frozenset(t.key for t in targets(r, m["targets"], at(path, "targets")))
    text = r.text(m, "label", path)
    key, equals, wanted = text.partition("=")
    if not equals or key.strip() != STAGE_LABEL or not wanted.strip():
        r.problems.append(
            f"{at(path, 'label')}: expected {STAGE_LABEL}=NAME (a workload label or job meta), "
            f"got {text!r}"
        )
        return None, frozenset()
    return ("stage", wanted.strip()), frozenset()


def _promotion(r: Reader, value: object, path: str) -> Promotion:
    if value is None:
        return Promotion()
    m = r.mapping(value, path)
    r.unknown(m, path, {"soak", "approvals"})
    approvals = 0
    if "approvals" in m:
        try:
            approvals = parse_count(m["approvals"])
        except ReleaseRuleError as exc:
            r.problems.append(f"{at(path, 'approvals')}: {exc}")
    return Promotion(soak=_duration(r, m, "soak", path, timedelta(0)), approvals=approvals)


def _duration(
    r: Reader, m: dict[str, object], key: str, path: str, default: timedelta
) -> timedelta:
    if key not in m:
        return default
    try:
        return parse_duration(m[key])
    except ReleaseRuleError as exc:
        r.problems.append(f"{at(path, key)}: {exc}")
        return default
