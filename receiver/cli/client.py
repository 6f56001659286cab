"""The commands that talk to a running regdeploy over its API.

``repos``, ``pin``, ``unpin``, ``auto-deploy``, ``deploy``, ``explain``, ``deployments``,
``events``, ``status``, ``reload`` and release control's ``approve``, ``reject``, ``freeze``,
``unfreeze`` and ``freezes`` print aligned tables for people, or with ``--json`` the API's answer
for scripts (``deployments --follow --json``: one JSON object per line). A refused call prints
the server's message and exits 1; a service that does not answer prints one line naming the URL
and exits 3; ``status`` exits 1 when something it checks is down; ``reload`` exits 2 when the
service refused the file (it prints the file's problems; what ran goes on running).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from receiver.cli import views
from receiver.cli.api import (
    DEFAULT_URL,
    LOCAL_HOST,
    PORT_VARIABLE,
    TOKEN_FILE_VARIABLE,
    TOKEN_VARIABLE,
    URL_VARIABLE,
    Api,
    read_token,
    repository_api_path,
    service_url,
)
from receiver.errors import ApiCallFailed, ServiceUnreachable
from receiver.views.answers import DeploymentJson

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
UNREACHABLE = 3
#: The exit status of a reload the service refused (as ``check-config``'s of a broken file).
REFUSED = 2
#: The HTTP status of a refused reload: its answer says why (``receiver.http.reload``).
REFUSED_RELOAD = 422
INTERRUPTED = 130  # as a shell reports a command ended by SIGINT
#: Seconds between two looks at the deployments with ``--follow``.
FOLLOW_SECONDS = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """What a command prints: ``data`` with ``--json``, ``text`` otherwise; and its exit
    status."""

    data: Any
    text: str
    code: int = 0


Command = Callable[[Api, argparse.Namespace], Shown]


def add_commands(commands: Commands) -> None:
    command(commands, "repos", "list the watched repositories", _repos)

    pin = command(commands, "pin", "pin a repository to a tag and deploy it now", _pin)
    pin.add_argument("repo", metavar="REPO")
    pin.add_argument("tag", metavar="TAG")
    pin.add_argument("--force", action="store_true", help=_FORCE)

    unpin = command(
        commands, "unpin", "follow the newest tag the policy allows again, and deploy it", _unpin
    )
    unpin.add_argument("repo", metavar="REPO")

    auto = command(commands, "auto-deploy", "switch automatic deploys of a repository", _auto)
    auto.add_argument("repo", metavar="REPO")
    auto.add_argument("switch", choices=["on", "off"])

    deploy = command(
        commands, "deploy", "deploy a tag now (default: what the pin or policy wants)", _deploy
    )
    deploy.add_argument("repo", metavar="REPO")
    deploy.add_argument("tag", metavar="TAG", nargs="?")
    deploy.add_argument("--force", action="store_true", help=_FORCE)

    explain = command(
        commands, "explain", "the decision for every known tag and target, with reasons", _explain
    )
    explain.add_argument("repo", metavar="REPO")
    explain.add_argument("--target", "-t", help="only this target (its key or name)")

    listed = command(
        commands, "deployments", "decided deploys and skips, newest first", _deployments
    )
    listed.add_argument("--repo", help="only this watched repository's")
    listed.add_argument("--target", help="only this target's (its key, e.g. container:web)")
    listed.add_argument("--status", help="only those of this status (planned, succeeded, ...)")
    listed.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    listed.add_argument("--follow", "-f", action="store_true", help="then show every change")

    events = command(commands, "events", "what the registries notified, newest first", _events)
    events.add_argument("--repo", help="only this repository path (e.g. team/app)")
    events.add_argument("--status", help="only those of this status (pending, done, failed)")
    events.add_argument("--limit", type=int, default=20, help="how many (default: 20)")

    command(commands, "status", "database, deployers, queue, reconciler and configuration", _status)
    command(
        commands,
        "reload",
        "read the configuration file again and run it, or refuse it whole (needs a write token)",
        _reload,
    )
    add_release_commands(commands)


_FORCE = "deploy past the deploy windows (audited; approvals and freezes still hold)"


def add_release_commands(commands: Commands) -> None:
    """Release control: votes on waiting deploys, and freezes."""
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        vote = command(commands, name, f"{verb} a waiting deploy", _vote)
        vote.add_argument("id", metavar="ID", type=int, help="the deployment's id")
        vote.add_argument("--comment", "-m", default="", help="said with the vote (why)")
        vote.set_defaults(approve=name == "approve")
    freeze = command(
        commands, "freeze", "hold every deploy of a repository (or all) until unfrozen", _freeze
    )
    freeze.add_argument("repo", metavar="REPO", nargs="?", help="default: every repository")
    freeze.add_argument("--reason", required=True, help="why (shown with every wait)")
    unfreeze = command(
        commands, "unfreeze", "lift a freeze: the newest waiting deploy per target goes", _unfreeze
    )
    unfreeze.add_argument("repo", metavar="REPO", nargs="?", help="default: every repository")
    command(commands, "freezes", "the freezes that are on", _freezes)


def command(commands: Commands, name: str, summary: str, run: Command) -> argparse.ArgumentParser:
    """A client command (every one is made here, ``receiver.cli.rollouts``' too): the same
    options (``--url``, ``--token``, ``--json``), exit statuses and error lines."""
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.add_argument(
        "--url",
        default=None,
        help=f"the running regdeploy (default: ${URL_VARIABLE}, else http://{LOCAL_HOST}:"
        f"${PORT_VARIABLE} when that is set (the port `make run` serves on), else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token", default=None, help=f"an API token (default: ${TOKEN_VARIABLE}, else a file)"
    )
    parser.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help=f"a file holding the API token (default: ${TOKEN_FILE_VARIABLE}, else "
        "~/.config/regdeploy/token when it exists)",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.set_defaults(run=lambda args: _run(run, args))
    return parser


def _run(command: Command, args: argparse.Namespace) -> int:
    try:
        api = _api(args)
        if getattr(args, "follow", False):
            return _follow(api, args)
        shown = command(api, args)
    except ServiceUnreachable as exc:
        print(f"regdeploy: {exc}", file=sys.stderr)
        return UNREACHABLE
    except ApiCallFailed as exc:
        _print_failure(exc, args)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while waiting for an answer
        return INTERRUPTED
    _print(shown.data if args.json else shown.text, as_json=args.json)
    return shown.code


def _api(args: argparse.Namespace) -> Api:
    url = service_url(args.url, env=os.environ)
    token = read_token(args.token, args.token_file, env=os.environ, home=Path.home())
    return Api(url=url, token=token)


def _print_failure(exc: ApiCallFailed, args: argparse.Namespace) -> None:
    status = f" (HTTP {exc.status})" if exc.status else ""
    print(f"regdeploy: {exc}{status}", file=sys.stderr)
    if exc.status == 401 and not (args.token or args.token_file):
        print(
            f"regdeploy: give an API token with --token, ${TOKEN_VARIABLE} or "
            f"${TOKEN_FILE_VARIABLE}",
            file=sys.stderr,
        )


def _print(what: Any, *, as_json: bool) -> None:
    print(json.dumps(what, indent=2) if as_json else what, flush=True)


# -- the commands --------------------------------------------------------------------------------


def _repos(api: Api, _: argparse.Namespace) -> Shown:
    """The watched repositories, each with its known tags (newest first) from ``/repos``."""
    answer = api.get("/api/v1/repos")
    listed = api.get("/repos")
    tags = {
        repo["name"]: listed.get(repo["name"], {}).get("tags", [])
        for repo in answer["repositories"]
    }
    data = {
        "repositories": [{**repo, "tags": tags[repo["name"]]} for repo in answer["repositories"]]
    }
    return Shown(data=data, text=views.repositories(answer, tags=tags))


def _change(api: Api, name: str, changes: dict[str, Any]) -> Shown:
    answer = api.call("PATCH", repository_api_path(name), changes)
    return Shown(data=answer, text=views.action(answer))


def _pin(api: Api, args: argparse.Namespace) -> Shown:
    return _change(api, args.repo, {"pinned_tag": args.tag, **_forced(args)})


def _forced(args: argparse.Namespace) -> dict[str, bool]:
    return {"force": True} if args.force else {}


def _unpin(api: Api, args: argparse.Namespace) -> Shown:
    return _change(api, args.repo, {"pinned_tag": ""})


def _auto(api: Api, args: argparse.Namespace) -> Shown:
    return _change(api, args.repo, {"auto_deploy": args.switch == "on"})


def _deploy(api: Api, args: argparse.Namespace) -> Shown:
    body = {**({"tag": args.tag} if args.tag else {}), **_forced(args)}
    answer = api.call("POST", repository_api_path(args.repo, "deploy"), body)
    return Shown(data=answer, text=views.action(answer))


def _explain(api: Api, args: argparse.Namespace) -> Shown:
    answer = api.get(repository_api_path(args.repo, "explain"), {"target": args.target})
    return Shown(data=answer, text=views.explanation(answer))


def _deployments(api: Api, args: argparse.Namespace) -> Shown:
    answer = api.get("/api/v1/deployments", _deployment_query(args))
    return Shown(data=answer, text=views.deployments(answer))


def _deployment_query(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "repository": args.repo,
        "target": args.target,
        "status": args.status,
        "limit": str(args.limit),
    }


def _events(api: Api, args: argparse.Namespace) -> Shown:
    query = {"repository": args.repo, "status": args.status, "limit": str(args.limit)}
    answer = api.get("/api/v1/events", query)
    return Shown(data=answer, text=views.events(answer))


def _status(api: Api, _: argparse.Namespace) -> Shown:
    answer = api.get("/api/v1/status")
    code = 0 if answer["status"] == "ok" else 1
    return Shown(data=answer, text=views.status(answer, url=api.url), code=code)


def _reload(api: Api, _: argparse.Namespace) -> Shown:
    """Reloaded or unchanged: 0; refused (422, with the file's problems): ``REFUSED``; a
    service started without a file (409) is refused as any call, 1."""
    answer = api.call("POST", "/api/v1/reload", answers=(REFUSED_RELOAD,))
    code = REFUSED if answer["outcome"] == "refused" else 0
    return Shown(data=answer, text=views.reloading(answer), code=code)


def _vote(api: Api, args: argparse.Namespace) -> Shown:
    verb = "approve" if args.approve else "reject"
    body = {"comment": args.comment} if args.comment else {}
    answer = api.call("POST", f"/api/v1/deployments/{args.id}/{verb}", body)
    return Shown(data=answer, text=views.vote(answer))


def _freeze(api: Api, args: argparse.Namespace) -> Shown:
    body = {"reason": args.reason, **({"repository": args.repo} if args.repo else {})}
    answer = api.call("POST", "/api/v1/freeze", body)
    return Shown(data=answer, text=views.freezing(answer))


def _unfreeze(api: Api, args: argparse.Namespace) -> Shown:
    answer = api.call("POST", "/api/v1/unfreeze", {"repository": args.repo} if args.repo else {})
    return Shown(data=answer, text=views.freezing(answer))


def _freezes(api: Api, _: argparse.Namespace) -> Shown:
    answer = api.get("/api/v1/freezes")
    return Shown(data=answer, text=views.freezes(answer["freezes"]))


def _follow(api: Api, args: argparse.Namespace) -> int:
    """The deployments, then each new one and each change, until Ctrl-C."""
    seen: dict[int, tuple[str, str | None]] = {}
    first = True
    try:
        while True:
            found = api.get("/api/v1/deployments", _deployment_query(args))["deployments"]
            changed = [d for d in reversed(found) if seen.get(d["id"]) != _state(d)]
            if first and not args.json:
                _print(views.deployments({"deployments": found}), as_json=False)
            else:
                for d in changed:
                    _print_line(d, as_json=args.json)
            seen.update((d["id"], _state(d)) for d in changed)
            first = False
            time.sleep(FOLLOW_SECONDS)
    except KeyboardInterrupt:
        return 0


def _state(deployment: DeploymentJson) -> tuple[str, str | None]:
    return deployment["status"], deployment["message"]


def _print_line(deployment: DeploymentJson, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(deployment), flush=True)
    else:
        print(views.deployment_line(deployment), flush=True)
