"""hardening: ``/ping`` and a good source's pushes while another source turns hostile.

Each round starts two fresh ``regdeploy serve`` (worker on), with two sources (Distribution's
``registry``, Harbor's ``harbor``) and regdeploy's default ``limits``, ``retention`` and ``rates``
written out (``bench.configs.two_sources``). The first is the reference: idle. The second is
attacked: ``POSTERS`` posters of ``registry``, with its token, post the bodies of the security
review in turn, one after another, ignoring every Retry-After, and a credential stuffer on an
address of its own tries wrong API tokens; they run in a process of their own
(``python -m bench.attacker URL``, until its standard input closes). On both, the probe (in the
harness's process) asks ``GET /ping`` every 50 ms and posts a well-formed push (a distinct event)
from ``harbor`` every second, each when due whether or not the last was answered.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench import configs, pushes
from bench.attacker import ANSWER_SECONDS, POSTERS, get_request, harbor_push, hostile_bodies
from bench.harness import Options, Rounds, count, regdeploy, run_rounds
from bench.processes import ROOT
from bench.report import Count, Figure, Report, Target, reference_cell, summary_cell
from bench.stats import number, percentile
from bench.wire import Endpoint, Pool, WireError

ATTACK_SECONDS = 60.0
QUICK_SECONDS = 3.0
PING_EVERY = 0.05
PUSH_EVERY = 1.0
GROWTH = "SELECT pg_total_relation_size('rejected_payloads') + pg_total_relation_size('events')"
KEPT = "SELECT count(*) FROM rejected_payloads"
LATE_NOTE = (
    "probe late by: how late the probe sent a ping or a push, at worst. More than a few ms "
    "means the machine did not give the probe the CPU to hold its pace (the attackers, "
    "regdeploy and PostgreSQL share its cores): part of the probe's latency is then its own."
)


def good_push(run: str, n: int) -> bytes:
    """Harbor's push of ``team/good:2.0.N`` at a digest of its own (its event id is the body's
    SHA-256)."""
    url = f"{pushes.REGISTRY}/team/good:2.0.{n}"
    resource = {"digest": pushes.digest(run, n), "tag": f"2.0.{n}", "resource_url": url}
    return harbor_push(operator="ci", resources=[resource], repository="team/good")


class AttackFailed(RuntimeError):
    """The attacking process did not start or did not report."""


def _start_attack(url: str) -> subprocess.Popen[str]:
    """The attacker in its own process, once its first requests are on their way."""
    argv = [sys.executable, "-m", "bench.attacker", url, "--posters", str(POSTERS)]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "attacking":
        process.kill()
        _, stderr = process.communicate()
        raise AttackFailed(f"the attacker did not start ({process.returncode}): {stderr}")
    return process


def _finish_attack(process: subprocess.Popen[str]) -> dict[str, Counter[str]]:
    """Close the attacker's standard input (the attack ends) and read what it got."""
    try:
        stdout, stderr = process.communicate(timeout=ANSWER_SECONDS + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AttackFailed("the attacker did not stop") from None
    if process.returncode != 0 or not stdout.strip():
        raise AttackFailed(f"the attacker failed ({process.returncode}): {stderr}")
    raw: dict[str, dict[str, int]] = json.loads(stdout.strip().splitlines()[-1])
    return {key: Counter(value) for key, value in raw.items()}


# The probe, in the harness's process.


@dataclass
class ProbeTally:
    """Seconds from each request's sending to its answer (infinite: not answered 200 for a
    ping, not 2xx for a push), pushes answered 2xx, and how late a request went out, at worst."""

    pings: list[float] = field(default_factory=list)
    pushes: list[float] = field(default_factory=list)
    accepted: int = 0
    late: float = 0.0


class Probe:
    """``GET /ping`` every ``PING_EVERY`` seconds, a good push every ``PUSH_EVERY``, each when
    it is due (a new connection when none is idle)."""

    def __init__(self, url: str) -> None:
        self.ping = Endpoint.parse(url + "/ping")
        self.push = Endpoint.parse(url + f"/webhooks/{configs.HARBOR_SOURCE}")
        self.run = pushes.new_run_id()
        self.tally = ProbeTally()

    async def watch(self, seconds: float) -> ProbeTally:
        pings, pushed = Pool(self.ping, limit=64), Pool(self.push, limit=16)
        start = time.perf_counter()
        try:
            await asyncio.gather(
                self._every(PING_EVERY, seconds, start, partial(self._ping, pings)),
                self._every(PUSH_EVERY, seconds, start, partial(self._push, pushed)),
            )
        finally:
            pings.close()
            pushed.close()
        return self.tally

    @staticmethod
    async def _every(
        spacing: float,
        seconds: float,
        start: float,
        ask: Callable[[int, float], Coroutine[Any, Any, None]],
    ) -> None:
        tasks = []
        for i in range(round(seconds / spacing)):
            due = start + i * spacing
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(ask(i, due)))
        await asyncio.gather(*tasks)

    async def _ping(self, pool: Pool, i: int, due: float) -> None:
        status, seconds = await self._ask(pool, get_request(self.ping, "/ping"), b"", due)
        self.tally.pings.append(seconds if status == 200 else math.inf)

    async def _push(self, pool: Pool, i: int, due: float) -> None:
        body = good_push(self.run, i)
        headers = {"Authorization": configs.HARBOR_TOKEN, "Content-Type": "application/json"}
        status, seconds = await self._ask(pool, self.push.head(headers, len(body)), body, due)
        ok = 200 <= status < 300
        self.tally.accepted += ok
        self.tally.pushes.append(seconds if ok else math.inf)

    async def _ask(self, pool: Pool, head: bytes, body: bytes, due: float) -> tuple[int, float]:
        began = time.perf_counter()
        self.tally.late = max(self.tally.late, began - due)
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                answer = await pool.post(head, body)
        except (WireError, TimeoutError):
            return 0, math.inf
        return answer.status, time.perf_counter() - began


# The benchmark.


def _run(options: Options, rounds: Rounds, counts: list[Count], *, index: int, key: str) -> None:
    """One fresh regdeploy, probed for the attack's duration, attacked if ``key`` says so."""
    attacked = key == "attack"
    name = f"hardening-{index}" if attacked else f"hardening-{key}-{index}"
    with regdeploy(options, lambda uri: configs.two_sources(db_uri=uri), name=name) as (svc, sql):
        before = sql.count(GROWTH)
        attacker = _start_attack(svc.url) if attacked else None
        try:
            probe = asyncio.run(Probe(svc.url).watch(options.pick(ATTACK_SECONDS, QUICK_SECONDS)))
            answers = _finish_attack(attacker) if attacker is not None else None
        finally:
            if attacker is not None and attacker.poll() is None:
                attacker.kill()
                attacker.communicate()
        growth = (sql.count(GROWTH) - before) / 1024**2
        label = f"hardening round {index}" if attacked else f"hardening {key} round {index}"
        counts.append(count(sql, label, probe.accepted))
        rounds.add(
            **{
                f"{key}_ping_p50": percentile(probe.pings, 0.50) * 1000,
                f"{key}_ping_p99": percentile(probe.pings, 0.99) * 1000,
                f"{key}_ping_max": max(probe.pings) * 1000,
                f"{key}_push_p50": percentile(probe.pushes, 0.50) * 1000,
                f"{key}_push_p99": percentile(probe.pushes, 0.99) * 1000,
                f"{key}_accepted": probe.accepted,
                f"{key}_late": probe.late * 1000,
                f"{key}_peak": svc.peak_rss_mb(),
                f"{key}_growth": growth,
                f"{key}_kept": sql.count(KEPT),
            }
        )
    if answers is not None:
        _add_answers(rounds, answers)


def _add_answers(rounds: Rounds, answers: dict[str, Counter[str]]) -> None:
    posts, stuffed = answers["posts"], answers["stuffed"]
    rounds.add(
        posts_202=posts["202"],
        posts_413=posts["413"],
        posts_429=posts["429"],
        posts_other=posts.total() - posts["202"] - posts["413"] - posts["429"],
        stuffed_401=stuffed["401"],
        stuffed_429=stuffed["429"],
        stuffed_other=stuffed.total() - stuffed["401"] - stuffed["429"],
    )


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    _run(options, rounds, counts, index=index, key="idle")
    _run(options, rounds, counts, index=index, key="attack")


def _figures(rounds: Rounds, *, pushes_sent: int) -> list[Figure]:
    both = (
        ("/ping p50", "ms", "ping_p50"),
        ("/ping p99", "ms", "ping_p99"),
        ("/ping max", "ms", "ping_max"),
        ("good push ack p50", "ms", "push_p50"),
        ("good push ack p99", "ms", "push_p99"),
        (f"good pushes answered 2xx (of {pushes_sent})", "", "accepted"),
        ("peak RSS (VmHWM)", "MB", "peak"),
        ("database growth, rejected_payloads + events", "MB", "growth"),
        ("rejected bodies kept", "rows", "kept"),
        ("probe late by, max", "ms", "late"),
    )
    attack_only = (
        ("hostile posts answered 202", "posts_202"),
        ("hostile posts answered 413", "posts_413"),
        ("hostile posts answered 429", "posts_429"),
        ("hostile posts answered otherwise or failed", "posts_other"),
        ("stuffer's tries answered 401", "stuffed_401"),
        ("stuffer's tries answered 429", "stuffed_429"),
        ("stuffer's tries answered otherwise or failed", "stuffed_other"),
    )
    return [
        rounds.figure(name, unit, f"attack_{key}", f"idle_{key}") for name, unit, key in both
    ] + [rounds.figure(name, "", key) for name, key in attack_only]


def run(options: Options) -> Report:
    bounds = configs.Bounds.read()
    seconds = options.pick(ATTACK_SECONDS, QUICK_SECONDS)
    rounds, counts = run_rounds(options, "hardening", _round)
    figures = _figures(rounds, pushes_sent=round(seconds / PUSH_EVERY))
    by_name = {figure.name: figure for figure in figures}
    during = f"while a source attacks ({seconds:g} s)"
    targets = [
        _target(by_name["/ping p99"], f"/ping p99 {during}", "<= 100 ms"),
        _target(by_name["good push ack p99"], f"good push ack p99 {during}", "<= 100 ms"),
        _target(by_name["peak RSS (VmHWM)"], f"peak RSS {during}", "<= 150 MB"),
        _target(
            figures[7],
            f"database growth {during}",
            f"<= {number(bounds.retention_mb, 'MB')} (the retention)",
        ),
    ]
    return Report(
        name="hardening",
        title="a hostile authenticated source at its maximum rate",
        setup=(
            f"Two fresh regdeploy serve per round, sources registry (Distribution) and harbor "
            f"(Harbor). Under attack, for {seconds:g} s: {POSTERS} posters of registry, with its "
            "token, post without pause and ignore Retry-After, in turn: 300,000 records "
            "(900 KB), 64 KB of random bytes, a Harbor-like push with a 200 KB operator and 200 "
            "resources, 300 tagged pushes with 3,000-byte ids (the largest body "
            f"{max(map(len, hostile_bodies())) / 1024:,.0f} KB, under server.max_body_bytes: no "
            "413 is expected); a credential stuffer on 127.0.0.2 tries "
            "wrong API tokens without pause. Idle (the reference): nothing else. In both, a "
            f"probe asks GET /ping every {PING_EVERY * 1000:g} ms and posts a well-formed push "
            f"from harbor every {PUSH_EVERY:g} s, each when due; latency from sending to the "
            "answer. Database growth: pg_total_relation_size of rejected_payloads and events, "
            "before and after."
        ),
        measured_as="under attack",
        reference_as="idle",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=targets,
        notes=[
            bounds.describe(),
            f"retention bound: {bounds.reckoning} = {number(bounds.retention_mb, 'MB')}, for the "
            "one source that posts unusable bodies",
            f"good push p99 is of {round(seconds / PUSH_EVERY)} pushes per round: under 100 "
            "pushes, the slowest",
            LATE_NOTE,
            *_per_round(rounds),
        ],
    )


def _per_round(rounds: Rounds) -> list[str]:
    """Each round's headline figures, under attack (idle): which figures went together."""
    shown = (
        ("/ping p99", "ping_p99", "ms"),
        ("good push p99", "push_p99", "ms"),
        ("probe late by", "late", "ms"),
        ("peak RSS", "peak", "MB"),
    )
    lines = []
    for i, _ in enumerate(rounds.values.get("attack_late", [])):
        cells = [
            f"{name} {number(rounds.values[f'attack_{key}'][i], unit)} "
            f"({number(rounds.values[f'idle_{key}'][i], unit)})"
            for name, key, unit in shown
        ]
        lines.append(f"round {i + 1}, under attack (idle): {', '.join(cells)}")
    return lines


def _target(figure: Figure, name: str, target: str) -> Target:
    return Target(
        figure=name,
        measured=summary_cell(figure),
        reference=reference_cell(figure, "idle"),
        target=target,
    )
