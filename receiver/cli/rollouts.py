"""Rollouts in the ``regdeploy`` command: the commands and how their answers are shown::

    regdeploy rollouts [--repository R] [--state S] [--limit N]
    regdeploy rollout ID [resume|abandon]
    regdeploy promote REPO STAGE [--digest D] [--force]

``rollouts`` is a table, newest first; ``rollout ID`` one rollout, where it stands and each wave
with its targets; ``rollout ID resume`` goes on with a halted rollout, ``rollout ID abandon``
stops a running or halted one (the verb follows the rollout, as ``auto-deploy REPO on|off``'s
switch follows the repository: a ``resume 7`` beside ``approve 7`` would read as a deployment's
id). ``promote`` promotes the digest that passed the stage before to STAGE. Those three act at
once, as ``approve`` and ``freeze`` do: the write token is the consent. A refusal (409: the
rollout cannot be resumed or abandoned, the digest has not passed the stage before) prints the
server's message and exits 1, as every refused call does (``receiver.cli.client``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from receiver.cli.api import Api, repository_api_path
from receiver.cli.client import Commands, Shown, command
from receiver.cli.views import reference_text, table, time_text
from receiver.views.rollout_answers import (
    PromotionJson,
    RolloutJson,
    RolloutListJson,
    RolloutTargetJson,
    RolloutWaveJson,
)

#: What ``regdeploy rollout ID ACTION`` may ask of a rollout (the API's paths).
ACTIONS = ("resume", "abandon")
STATES = "running, halted, rolled_back, completed, abandoned"


def add_commands(commands: Commands) -> None:
    listed = command(commands, "rollouts", "rollouts wave by wave, newest first", _rollouts)
    listed.add_argument("--repository", "--repo", help="only this watched repository's")
    listed.add_argument("--state", help=f"only those in this state ({STATES})")
    listed.add_argument("--limit", type=int, default=20, help="how many (default: 20)")

    one = command(
        commands, "rollout", "one rollout's waves and targets; resume or abandon it", _rollout
    )
    one.add_argument("id", metavar="ID", type=int, help="the rollout's id")
    one.add_argument(
        "action",
        nargs="?",
        choices=ACTIONS,
        metavar="resume|abandon",
        help="resume a halted rollout, or abandon a running or halted one (needs a write token)",
    )

    promote = command(
        commands,
        "promote",
        "roll out to STAGE the digest that passed the stage before (needs a write token)",
        _promote,
    )
    promote.add_argument("repo", metavar="REPO")
    promote.add_argument("stage", metavar="STAGE")
    promote.add_argument(
        "--digest", help="this digest (default: the newest that rolled out in the stage before)"
    )
    promote.add_argument(
        "--force",
        action="store_true",
        help="promote it even if it has not passed the stage before (audited)",
    )


def _rollouts(api: Api, args: argparse.Namespace) -> Shown:
    query = {"repository": args.repository, "state": args.state, "limit": str(args.limit)}
    answer: RolloutListJson = api.get("/api/v1/rollouts", query)
    return Shown(data=answer, text=rollouts(answer))


def _rollout(api: Api, args: argparse.Namespace) -> Shown:
    path = f"/api/v1/rollouts/{args.id}"
    answer: RolloutJson = (
        api.call("POST", f"{path}/{args.action}") if args.action else api.get(path)
    )
    return Shown(data=answer, text=rollout(answer))


def _promote(api: Api, args: argparse.Namespace) -> Shown:
    body = {
        "stage": args.stage,
        **({"digest": args.digest} if args.digest else {}),
        **({"force": True} if args.force else {}),
    }
    answer: PromotionJson = api.call("POST", repository_api_path(args.repo, "promote"), body)
    return Shown(data=answer, text=promotion(answer, repository=args.repo))


# -- how the answers are shown -------------------------------------------------------------------


def rollouts(answer: RolloutListJson) -> str:
    """The rollouts as a table: id, repository, stage, tag, state, wave ``2/3``, words."""
    if not answer["rollouts"]:
        return "no rollouts (a repository with rollout: or stages: rolls out its pushes)"
    rows = [
        [
            str(r["id"]),
            r["repository"],
            r["stage"] or "-",
            r["tag"] or "-",
            state_text(r),
            f"{r['wave']}/{len(r['waves'])}",
            r["words"],
        ]
        for r in answer["rollouts"]
    ]
    return table(["ID", "REPOSITORY", "STAGE", "TAG", "STATE", "WAVE", "WHERE IT STANDS"], rows)


def state_text(r: RolloutJson) -> str:
    """The rollout's state, and whether it is rolling back."""
    return f"{r['state']}, rolling back" if r["rolling_back"] else r["state"]


def rollout(r: RolloutJson) -> str:
    """One rollout: what, where it stands, its rules, then each wave with its targets."""
    stage = f" (stage {r['stage']})" if r["stage"] else ""
    lines = [
        f"rollout {r['id']} of {r['repository']}{stage}: {reference_text(r['image'])}",
        f"{state_text(r)}, wave {r['wave']} of {len(r['waves'])}: {r['words']}",
    ]
    if r["reason"] and r["reason"] not in r["words"]:
        lines.append(f"why: {r['reason']}")
    event = f" (event {r['event_id']})" if r["event_id"] is not None else ""
    lines.append(
        f"trigger {r['trigger']}{event}; each wave soaks {seconds_text(r['soak_seconds'])}; "
        f"on failure: {r['on_failure']}"
    )
    if r["promoted_from"] is not None:
        lines.append(f"promoted from rollout {r['promoted_from']}")
    if r["promote_at"]:
        lines.append(f"promoted to the next stage at {time_text(r['promote_at'])}")
    lines.append(
        f"created {time_text(r['created_at'])}, updated {time_text(r['updated_at'])}, "
        f"finished {time_text(r['finished_at'])}"
    )
    for wave in r["waves"]:
        lines += ["", *wave_lines(wave, count=len(r["waves"]))]
    return "\n".join(lines)


def wave_lines(wave: RolloutWaveJson, *, count: int) -> list[str]:
    """``wave N of M: state; started ...`` and its targets' table, indented."""
    moments = (
        ("started", wave["started_at"]),
        ("healthy since", wave["healthy_since"]),
        ("finished", wave["finished_at"]),
    )
    times = [f"{label} {time_text(moment)}" for label, moment in moments if moment]
    head = f"wave {wave['number']} of {count}: {wave['state']}" + "".join(f"; {t}" for t in times)
    if not wave["targets"]:
        return [head, "  no targets"]
    rows = [target_row(t) for t in wave["targets"]]
    body = table(["TARGET", "DEPLOYMENT", "STATUS", "BEFORE", "ROLLBACK", "DETAIL"], rows)
    return [head, *(f"  {line}" for line in body.splitlines())]


def target_row(t: RolloutTargetJson) -> list[str]:
    """A target of a wave: its deployment and how it stands, the image it ran before, its
    rollback, and in detail its health (or, without health words, what its deployment said:
    what it waits for, why it was cancelled or failed)."""
    rollback = (
        f"{t['rollback_id']} {t['rollback_status'] or ''}".rstrip()
        if t["rollback_id"] is not None
        else "-"
    )
    return [
        t["key"],
        str(t["deployment_id"]) if t["deployment_id"] is not None else "-",
        t["status"] or "-",
        reference_text(t["previous_image"]),
        rollback,
        t["health"] or t["message"] or "-",
    ]


def seconds_text(seconds: float) -> str:
    """``10 s``, ``5 min``, ``2 h``, ``90 s``: a soak as it is written in the configuration."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def promotion(answer: PromotionJson, *, repository: str) -> str:
    """What a promotion did: which image went to which stage, from where, and what follows."""
    source = (
        f"from rollout {answer['source']}" if answer["source"] is not None else "from no rollout"
    )
    forced = "; forced: it had not passed the stage before (audited)" if answer["forced"] else ""
    lines = [
        f"{repository} {reference_text(answer['image'])} promoted to {answer['stage']} "
        f"{source}{forced}",
        f"{_deployments(answer['deployments'])}: `regdeploy rollouts --repository {repository}` "
        "shows how it goes",
    ]
    return "\n".join(lines)


def _deployments(ids: Sequence[int]) -> str:
    if not ids:
        return "no deployment decided"
    noun = "deployment" if len(ids) == 1 else "deployments"
    return f"{noun} {', '.join(str(i) for i in ids)} decided"
