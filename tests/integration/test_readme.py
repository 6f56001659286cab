"""The README's shell commands, taken from the README itself: every block is valid shell, every
``regdeploy …`` command line parses, every ``make`` target it names exists, and the documented
flow ("Try it", "The regdeploy command", the API's examples) runs as written, in order, against
the example's service as ``make run`` starts it.

Two things differ from a user's terminal: the service listens on a free port rather than 8080
(the commands' ``:8080`` is replaced, and ``REGDEPLOY_URL`` names it), and ``curl`` fails on an
HTTP error (``--fail-with-body``), so that a refused example fails the test.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from receiver.cli import build_parser
from tests.support.example_service import ROOT, Service, clean_env, example_service

README = ROOT / "README.md"
SHELLS = ("sh", "bash", "shell")
# The sections whose shell blocks are the documented flow, run in this order.
FLOW = ("Try it", "The regdeploy command", "API")
FLOW_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced block of the README under its ``##`` heading."""

    heading: str
    language: str
    text: str


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    heading, language, lines = "", None, list[str]()
    for line in README.read_text(encoding="utf-8").splitlines():
        if language is None and line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("```") and language is None:
            language, lines = line[3:].strip(), []
        elif line.startswith("```"):
            blocks.append(Block(heading, language or "", "\n".join(lines) + "\n"))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def shell_blocks() -> list[Block]:
    return [b for b in readme_blocks() if b.language in SHELLS]


def command_lines(text: str) -> Iterator[list[str]]:
    """Each command of a shell block as words (continuations and quotes over several lines
    joined, comments dropped)."""
    pending = ""
    for line in re.sub(r"\\\n", " ", text).splitlines():
        pending += line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote goes on to the next line
            pending += "\n"
            continue
        pending = ""
        if words:
            yield words


def regdeploy_commands() -> list[list[str]]:
    """Every ``regdeploy …`` command of the shell blocks, and of the inline code that names a
    whole command (no placeholders: no capitals, ``[``, ``|`` or ``…``)."""
    found = [
        words
        for block in shell_blocks()
        for words in command_lines(block.text)
        if Path(words[0]).name == "regdeploy"
    ]
    inline = re.findall(r"`(regdeploy [^`]+)`", README.read_text(encoding="utf-8"))
    found += [shlex.split(code) for code in inline if not re.search(r"[A-Z\[|…]|\.\.\.", code)]
    return found


def test_the_readme_has_the_blocks_this_test_reads() -> None:
    headings = {b.heading for b in shell_blocks()}
    assert set(FLOW) <= headings
    assert len(regdeploy_commands()) > 20


@pytest.mark.parametrize("block", shell_blocks(), ids=lambda b: b.heading or "top")
def test_every_shell_block_is_valid_shell(block: Block) -> None:
    checked = subprocess.run(
        ["bash", "-n"], input=block.text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("words", regdeploy_commands(), ids=" ".join)
def test_every_regdeploy_command_parses(words: list[str]) -> None:
    parser = build_parser()
    try:
        args = parser.parse_args(words[1:])
    except SystemExit as exited:  # --version and --help exit 0; a parse error exits 2
        assert exited.code == 0, words
        return
    assert callable(args.run)


def test_every_make_target_it_names_exists() -> None:
    targets = {
        words[1]
        for block in shell_blocks()
        for words in command_lines(block.text)
        if words[0] == "make" and len(words) > 1
    }
    targets |= set(re.findall(r"`make (\w+)", README.read_text(encoding="utf-8")))
    assert {"run", "test", "demo"} <= targets
    for target in sorted(targets):
        dry = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert dry.returncode == 0, (target, dry.stderr)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with example_service(tmp_path) as running:
        yield running


def flow_script(port: int) -> str:
    """The flow's blocks, in order, as one script, on the service's port."""
    by_heading = {h: [b.text for b in shell_blocks() if b.heading == h] for h in FLOW}
    script = "\n".join(text for heading in FLOW for text in by_heading[heading])
    return re.sub(r"(127\.0\.0\.1|localhost):8080", rf"\1:{port}", script)


def failing_curl(directory: Path) -> Path:
    """A ``curl`` that fails on an HTTP error, first on PATH."""
    directory.mkdir()
    shim = directory / "curl"
    shim.write_text('#!/bin/sh\nexec /usr/bin/curl --fail-with-body "$@"\n')
    shim.chmod(0o755)
    return directory


@pytest.mark.pg
def test_the_documented_flow_runs_as_written(service: Service, tmp_path: Path) -> None:
    service.start()
    env = clean_env(**service.env)
    env["PATH"] = f"{failing_curl(tmp_path / 'bin')}:{env.get('PATH', '')}"
    env["REGDEPLOY_URL"] = service.url
    env["HOME"] = str(tmp_path)  # no token file of the user's

    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", flow_script(service.port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=FLOW_SECONDS,
        check=False,
    )

    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}\n{service.log()}"
    out = ran.stdout
    assert '{"accepted": 1, "duplicate": 0, "ignored": 0, "rejected": 0}' in out
    assert f"at {service.url}: ok" in out  # regdeploy status
    assert 'team/app: pinned_tag: "" → "1.0.0"; nothing deployed: team/app has no targets' in out
    assert "tags, newest first: 1.0.0" in out  # regdeploy explain
    assert '"pinned_tag_value": "1.0.0"' in out  # GET /repos
    assert "deploying" not in out  # no deployer runs here
    assert ran.stderr == ""
    assert service.stop() == 0
