"""How the CLI shows the API's answers to people: aligned tables and short lines.

Each function takes an answer as the API gives it (parsed JSON) and returns text; ``--json``
prints the answers themselves instead. Times are shown in UTC to the second, digests as their
algorithm and first 12 hex digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from handlers.references import parse_reference, short_digest, short_image
from receiver.errors import InvalidReference
from receiver.views.answers import (
    ActionResultJson,
    ConfigurationJson,
    DeploymentJson,
    DeploymentListJson,
    EventListJson,
    ExplainTargetJson,
    ExplanationJson,
    FreezeAnswerJson,
    FreezeJson,
    OutlookJson,
    ProcessJson,
    QueueJson,
    ReconcilerJson,
    ReloadJson,
    RepositoryListJson,
    StatusJson,
    TargetJson,
    VoteResultJson,
)

#: Tags shown per repository in ``regdeploy repos``.
TAGS_SHOWN = 3


def table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned on the widest cell, two spaces apart; the last column is not padded."""
    lines = [list(headers)] if headers else []
    lines += [list(row) for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]]
        ).rstrip()
        for line in lines
    )


def time_text(moment: str | None) -> str:
    """An ISO 8601 time from the API as ``2026-12-01 11:06:41`` (UTC), or ``-``."""
    if not moment:
        return "-"
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def reference_text(image: str | None) -> str:
    """``registry/repo:tag@sha256:…`` as ``tag@sha256:0123456789ab``, or ``-``."""
    if not image:
        return "-"
    try:
        return short_image(parse_reference(image))
    except InvalidReference:
        return image


def target_text(target: TargetJson) -> str:
    """``kind:name`` and its options, as the API's ``target_key``."""
    options = target.get("options") or {}
    extra = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"{target['kind']}:{target['name']}" + (f"[{extra}]" if extra else "")


def repositories(answer: RepositoryListJson, *, tags: Mapping[str, Sequence[str]]) -> str:
    """The watched repositories, each with its known ``tags`` (by name, newest first)."""
    rows = []
    for repo in answer["repositories"]:
        known = tags.get(repo["name"], ())
        shown = ", ".join(known[:TAGS_SHOWN]) + (
            f" (+{len(known) - TAGS_SHOWN})" if len(known) > TAGS_SHOWN else ""
        )
        targets = ", ".join(target_text(t) for t in repo["targets"]) or "(labelled)"
        rows.append(
            [
                repo["name"],
                repo["image"],
                repo["pinned_tag"] or "-",
                "on" if repo["auto_deploy"] else "off",
                repo["policy"],
                targets,
                shown or "-",
            ]
        )
    if not rows:
        return "no watched repositories (add some under repositories: in the configuration)"
    headers = ["NAME", "IMAGE", "PIN", "AUTO-DEPLOY", "POLICY", "TARGETS", "TAGS"]
    return table(headers, rows)


def action(answer: ActionResultJson) -> str:
    """What a pin, unpin, auto-deploy switch or deploy did, and each target's outlook."""
    lines = [answer["message"]]
    waiting = answer["waiting"]
    if answer["targets"]:
        lines += ["", outlooks(answer["targets"], waiting=waiting)]
    if answer["deployments"]:
        ids = ", ".join(str(i) for i in answer["deployments"])
        name = answer["repository"]["name"]
        if not waiting:
            said = f"deployment {ids} planned"
        elif len(waiting) == len(answer["deployments"]):
            said = f"deployment {ids} waits (`regdeploy explain {name}` says for what)"
        else:
            said = f"deployment {ids} planned, {len(waiting)} of them waiting"
        lines += ["", f"{said}: `regdeploy deployments --repo {name} --follow` shows how it goes"]
    return "\n".join(lines)


def outlooks(targets: Sequence[OutlookJson], *, waiting: Mapping[str, str] | None = None) -> str:
    """Each target's outlook; DEPLOY says ``waits`` for a deploy planned that waits."""
    held = waiting or {}
    rows = [
        [
            target_text(t["target"]),
            reference_text(t["running"]),
            reference_text(t["image"]),
            _deploy_word(t, held),
            t["reason"],
        ]
        for t in targets
    ]
    return table(["TARGET", "RUNNING", "WANTS", "DEPLOY", "REASON"], rows)


def _deploy_word(outlook: OutlookJson, waiting: Mapping[str, str]) -> str:
    if not outlook["deploy"]:
        return "no"
    target = outlook["target"]
    return "waits" if f"{target['kind']}:{target['name']}" in waiting else "yes"


def explanation(answer: ExplanationJson) -> str:
    pin = f"pinned to {answer['pinned_tag']}" if answer["pinned_tag"] else "not pinned"
    auto = "on" if answer["auto_deploy"] else "off"
    tags = ", ".join(t["tag"] for t in answer["tags"]) or "none known yet"
    lines = [
        f"{answer['repository']} ({answer['image']}): policy {answer['policy']}, "
        f"auto_deploy {auto}, {pin}",
        f"tags, newest first: {tags}",
    ]
    lines += [f["words"] for f in answer["freezes"]]
    if answer["message"]:
        lines += ["", answer["message"]]
    for target in answer["targets"]:
        lines += ["", *_target_explanation(target)]
    return "\n".join(lines)


def _target_explanation(target: ExplainTargetJson) -> list[str]:
    found = "configured" if target["configured"] else "opted in by label"
    running = reference_text(target["running"]) if target["running"] else "nothing regdeploy knows"
    now = f"{reference_text(target['image'])}, " if target["image"] else ""
    verdict = "deploy" if target["deploy"] else "stay"
    lines = [
        f"{target['target_key']} ({found}) runs {running}",
        f"  now: {verdict} ({now}{target['reason']})",
    ]
    if rules := target["release_rules"]:
        lines.append(f"  release: {'; '.join(rules)}")
    if waiting := target["waiting"]:
        lines.append(f"  waiting: {waiting_line(waiting)}")
    if checked := target["checks"]:
        named, _, digest = checked["image"].rpartition("/")[2].partition("@")
        image = f"{named}@{short_digest(digest)}" if digest else named
        lines.append(
            f"  checks (deployment {checked['deployment']}, {image}, {checked['status']}):"
        )
        lines += [f"    {c['check']}: {c['words']}" for c in checked["results"]]
    if target["pushes"]:
        rows = [
            [
                p["tag"],
                short_digest(p["digest"]),
                "adopt" if p["adopt"] else "deploy" if p["deploy"] else "skip",
                p["reason"],
            ]
            for p in target["pushes"]
        ]
        body = table(["TAG", "DIGEST", "A PUSH WOULD", "REASON"], rows)
        lines += ["", *("  " + line for line in body.splitlines())]
    return lines


def waiting_line(d: DeploymentJson) -> str:
    """``deployment 7 (1.2.0@sha256:0123456789ab) waits for: 1 of 2 approvals (admin)``."""
    image = f"{d['tag']}@{short_digest(d['digest'])}"
    return f"deployment {d['id']} ({image}) waits for: {d['wait'] or 'its next judgement'}"


def vote(answer: VoteResultJson) -> str:
    """What an approval or a rejection did."""
    return answer["message"]


def freezing(answer: FreezeAnswerJson) -> str:
    """What a freeze or an unfreeze did, and the freezes on now."""
    return f"{answer['message']}\n\n{freezes(answer['freezes'])}"


def freezes(found: Sequence[FreezeJson]) -> str:
    if not found:
        return "nothing is frozen"
    rows = [
        [f["repository"] or "(every repository)", f["actor"], time_text(f["since"]), f["reason"]]
        for f in found
    ]
    return table(["FROZEN", "BY", "SINCE", "REASON"], rows)


def deployments(answer: DeploymentListJson) -> str:
    if not answer["deployments"]:
        return "no deployments yet"
    headers = ["ID", "CREATED", "TARGET", "REPOSITORY", "IMAGE", "STATUS", "TRIGGER", "REASON"]
    return table(headers, [deployment_row(d) for d in answer["deployments"]])


def deployment_row(d: DeploymentJson) -> list[str]:
    said = f"waits for: {d['wait']}" if d["wait"] else d["message"]
    why = d["reason"] + (f" ({said})" if said else "")
    return [
        str(d["id"]),
        time_text(d["created_at"]),
        d["target_key"],
        d["repository"] or "-",
        f"{d['tag']}@{short_digest(d['digest'])}",
        d["status"],
        d["trigger"],
        why,
    ]


def deployment_line(d: DeploymentJson) -> str:
    """One deployment on one line, for ``--follow``."""
    return "  ".join(deployment_row(d))


def events(answer: EventListJson) -> str:
    if not answer["events"]:
        return "no events yet"
    rows = [
        [
            str(e["id"]),
            time_text(e["received_at"]),
            e["source"],
            e["action"],
            f"{e['registry']}/{e['repository']}",
            e["tag"] or "-",
            short_digest(e["digest"]),
            e["status"] + (f" ({e['reason']})" if e["reason"] else ""),
        ]
        for e in answer["events"]
    ]
    headers = ["ID", "RECEIVED", "SOURCE", "ACTION", "REPOSITORY", "TAG", "DIGEST", "STATUS"]
    return table(headers, rows)


def status(answer: StatusJson, *, url: str) -> str:
    db = answer["database"]
    where = "embedded" if db["embedded"] else "external"
    rows = [
        ["database", f"up ({where})" if db["reachable"] else f"DOWN ({where}): {db['message']}"],
        *_deployer_rows(answer),
        ["queue", _queue_text(answer["queue"])],
        *[["frozen", f["words"]] for f in answer["freezes"]],
        ["worker", "on" if answer["worker"]["enabled"] else "off (another process decides)"],
        ["reconciler", _reconciler_text(answer["reconciler"])],
        *_labelled("config", configuration_lines(answer)),
    ]
    if answer["dry_run"]:
        rows.append(["dry run", "on: decisions are recorded, nothing is deployed"])
    head = f"regdeploy {answer['version']} at {url}: {answer['status']}"
    return head + "\n" + table(None, rows)


def _labelled(label: str, lines: Sequence[str]) -> list[list[str]]:
    """Rows of ``status``: ``label`` beside the first line, nothing beside the others."""
    return [[label if i == 0 else "", line] for i, line in enumerate(lines)]


def _deployer_rows(answer: StatusJson) -> list[list[str]]:
    reach = [
        f"{h['kind']}: " + ("reachable" if h["reachable"] else f"UNREACHABLE ({h['message']})")
        for h in answer["deployers"]
    ]
    switches = [
        f"{s['name']} {'on' if s['on'] else 'off'}: {s['why']}" for s in answer["deployer_switches"]
    ]
    return _labelled("deployers", ["; ".join(reach) or "none on", *switches])


def configuration_lines(answer: StatusJson) -> list[str]:
    """The configuration the service runs, in one line when all is well; then the reload it
    refused last, the keys that wait for a restart, and every process when they disagree."""
    c = answer["configuration"]
    lines = [
        f"{c['path'] or '(no file)'} (fingerprint {c['fingerprint']}, "
        f"loaded {time_text(c['loaded_at'])})"
    ]
    if c["refusal"] is not None:
        lines.append(_refusal_line(c))
        lines += problem_lines(c["refusal"])
    if c["restart_needed"]:
        lines.append(restart_line(c["restart_needed"]))
    if not c["processes_agree"]:
        lines += ["processes DISAGREE on it:", *_process_lines(answer["processes"])]
    for other in answer["processes"]:
        if other["id"] != c["process"] and other["refusal"] is not None:
            lines.append(
                f"{other['role']} {other['id']}: last reload of {other['config_path']} REFUSED "
                f"at {time_text(other['refused_at'])} (its log names the problems)"
            )
    return lines


def _refusal_line(c: ConfigurationJson) -> str:
    count = len(c["refusal"] or ())
    problems = f"{count} problem{'' if count == 1 else 's'}"
    return f"last reload REFUSED at {time_text(c['refused_at'])}, for {problems}:"


def _process_lines(processes: Sequence[ProcessJson]) -> list[str]:
    """Each process's role, id, fingerprint and file, aligned and indented."""
    rows = [
        [p["role"], p["id"], f"fingerprint {p['fingerprint']}", p["config_path"] or "(no file)"]
        for p in processes
    ]
    return [f"  {line}" for line in table(None, rows).splitlines()]


def problem_lines(problems: Sequence[str]) -> list[str]:
    """A configuration's problems (``check-config``'s words), one per line, as a list."""
    return [f"  - {problem}" for problem in problems]


def restart_line(keys: Sequence[str]) -> str:
    return f"restart needed for: {', '.join(keys)}"


def reloading(answer: ReloadJson) -> str:
    """What a reload did; the file's problems when it was refused; what waits for a restart."""
    lines = [answer["message"], *problem_lines(answer["problems"])]
    if answer["restart_needed"]:
        lines.append(restart_line(answer["restart_needed"]))
    return "\n".join(lines)


def _queue_text(queue: QueueJson | None) -> str:
    if queue is None:
        return "unknown (the database does not answer)"
    pending = f"{queue['pending_events']} events pending"
    if queue["oldest_pending_age_seconds"] is not None:
        pending += f" (oldest {queue['oldest_pending_age_seconds']:g} s)"
    waiting = f", {queue['waiting_deploys']} waiting" if queue["waiting_deploys"] else ""
    return (
        f"{pending}; {queue['planned_deploys']} deploys planned, {queue['running_deploys']} running"
        + waiting
    )


def _reconciler_text(reconciler: ReconcilerJson) -> str:
    if not reconciler["enabled"]:
        return "off"
    every = f"every {reconciler['interval_seconds']:g} s"
    if reconciler["last_round_at"] is None:
        return f"{every}; no round yet"
    return (
        f"{every}; last round {time_text(reconciler['last_round_at'])} by {reconciler['holder']}, "
        f"next {time_text(reconciler['next_round_at'])}"
    )
