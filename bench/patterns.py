"""patterns: ``judge_tag`` with catastrophic ``regexp:`` policies on 128-character tags.

Each round times calls of ``judge_tag`` (the policy as text, as the service holds it) with a
policy whose pattern backtracks catastrophically in Python's ``re``, on a 128-character tag
that almost matches it, and the same calls with the plain ``regexp:^v[0-9]`` as the reference;
a figure is the time of one call. Users' patterns run on RE2, which takes time linear in the
tag: to show what that replaced, Python's ``re`` runs the first pattern once, on a tag of 26
characters, in a subprocess with a time limit.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from bench.harness import Options, Rounds, progress, run_rounds
from bench.report import Count, Report, Target, ratio_cell, reference_cell, summary_cell
from receiver.decide.rules.policy import judge_tag
from receiver.decide.rules.versions import MAX_TAG

REFERENCE = "regexp:^v[0-9]"
# Each catastrophic pattern, with the character a tag repeats and the one that spoils it.
CATASTROPHIC = (
    ("^([a-z0-9]+-?)+$", "a", "."),
    ("(a|aa)+$", "a", "."),
    ("(a*)*b", "a", "a"),
    ("(x+x+)+y", "x", "x"),
)
RE_TAG_LENGTH = 26  # the tag of the report: 3.4 s per call in Python's re


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    calls: int  # per policy and round
    re_limit: float  # seconds Python's re may take on the short tag

    @classmethod
    def of(cls, options: Options) -> Scale:
        if options.quick:
            return cls(calls=500, re_limit=1.0)
        return cls(calls=20_000, re_limit=5.0)


def _tag(fill: str, spoiler: str, length: int) -> str:
    return fill * (length - 1) + spoiler


def _per_call_us(policy: str, tag: str, calls: int) -> float:
    """Microseconds per ``judge_tag`` call, over ``calls`` calls (the pattern compiled first,
    as the service has it compiled after the first push)."""
    judge_tag(policy, "latest", tag)
    started = time.perf_counter()
    for _ in range(calls):
        judge_tag(policy, "latest", tag)
    return (time.perf_counter() - started) / calls * 1e6


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale = Scale.of(options)
    for number, (pattern, fill, spoiler) in enumerate(CATASTROPHIC):
        tag = _tag(fill, spoiler, MAX_TAG)
        rounds.add(
            **{
                f"bad{number}": _per_call_us(f"regexp:{pattern}", tag, scale.calls),
                f"ref{number}": _per_call_us(REFERENCE, tag, scale.calls),
            }
        )


def python_re_seconds(pattern: str, tag: str, *, limit: float) -> float | None:
    """Seconds one ``re.search(pattern, tag)`` takes in a fresh interpreter; None past
    ``limit`` (the interpreter is killed)."""
    script = (
        "import re, sys, time\n"
        "started = time.perf_counter()\n"
        "re.search(sys.argv[1], sys.argv[2])\n"
        "print(time.perf_counter() - started)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, pattern, tag],
            capture_output=True,
            text=True,
            timeout=limit,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def _python_re_note(scale: Scale) -> str:
    pattern, fill, spoiler = CATASTROPHIC[0]
    tag = _tag(fill, spoiler, RE_TAG_LENGTH)
    progress(f"patterns: Python's re on {tag!r}, for at most {scale.re_limit:g} s")
    seconds = python_re_seconds(pattern, tag, limit=scale.re_limit)
    took = f"over {scale.re_limit:g} s" if seconds is None else f"{seconds:.2f} s"
    return (
        f"re: {took} for one re.search({pattern!r}, {tag!r}) ({RE_TAG_LENGTH} characters, one "
        "round, what regdeploy ran before RE2); each character more doubles it"
    )


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "patterns", _round)
    figures = [
        rounds.figure(f"judge_tag, regexp:{pattern}", "us", f"bad{number}", f"ref{number}")
        for number, (pattern, _, _) in enumerate(CATASTROPHIC)
    ]
    worst = max(figures, key=lambda figure: figure.measured.median)
    target = Target(
        figure=f"judge_tag with a catastrophic regexp, {MAX_TAG}-character tag",
        measured=f"{summary_cell(worst)}, ratio {ratio_cell(worst)}",
        reference=reference_cell(worst, REFERENCE),
        target=f"the order of {REFERENCE} (linear in the tag)",
    )
    return Report(
        name="patterns",
        title=f"catastrophic regexp policies on {MAX_TAG}-character tags",
        setup=(
            f"{scale.calls:,} calls of judge_tag(policy, 'latest', tag) per policy and round, "
            f"each tag {MAX_TAG} characters that almost match its pattern (a run of its "
            f"character, spoiled by the last); the reference is {REFERENCE} on the same tag. "
            "Time per call, in this process (no service, no database)."
        ),
        measured_as="catastrophic policy",
        reference_as=REFERENCE,
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
        notes=[_python_re_note(scale)],
    )
