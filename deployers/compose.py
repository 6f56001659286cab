"""Containers that docker compose created, recreated as compose would, so that a later
``docker-compose up -d`` finds nothing to change.

Compose recreates a container (found by its ``com.docker.compose.*`` labels) that no longer
matches the compose file. v1 (``docker-compose`` 1.x) compares its ``config-hash`` label with a
hash of the service's configuration and of the ID of the local image ``image:`` names; v2 and
later hash without the image and compare its ``com.docker.compose.image`` with that ID. So the
replacement names its image as compose wrote it (``registry/app:1.0``), that tag moves to the
pulled image, and the labels are set as compose sets them (v1: ``docker-compose config --hash``).
With ``rewrite``, a move to another tag rewrites the ``image:`` line of the compose file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from deployers.compose_file import RewriteRefused, rewrite_image, write_atomically
from deployers.docker_engine import (
    DockerSettings,
    Engine,
    cli_environment,
    cli_tls_options,
    split_reference,
)

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
CONFIG_FILES = "com.docker.compose.project.config_files"
WORKING_DIR = "com.docker.compose.project.working_dir"
ENVIRONMENT_FILE = "com.docker.compose.project.environment_file"
VERSION = "com.docker.compose.version"
CONFIG_HASH = "com.docker.compose.config-hash"
IMAGE = "com.docker.compose.image"


# Neither error (this, ``RewriteRefused``) leaves the container deployer: a deploy's message
# says what they say.
class ComposeUnavailable(Exception):
    """Compose cannot be asked: not installed, a file missing, an error, no answer in time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposeService:
    """The compose service a container belongs to, as its labels say."""

    project: str
    service: str
    files: tuple[Path, ...]
    working_dir: Path
    env_file: Path | None = None
    version: str = ""

    @classmethod
    def of(cls, labels: Mapping[str, str] | None) -> ComposeService | None:
        """The service, or None for a container compose did not create."""
        labels = labels or {}
        project, service = labels.get(PROJECT), labels.get(SERVICE)
        if not project or not service:
            return None
        # v1 writes the files as its command line named them: relative to where it ran, the
        # project directory unless -f named another.
        here = Path(labels.get(WORKING_DIR) or ".")
        files = tuple(here / f.strip() for f in (labels.get(CONFIG_FILES) or "").split(","))
        env_file = labels.get(ENVIRONMENT_FILE)
        return cls(
            project=project,
            service=service,
            files=tuple(f for f in files if f != here),
            working_dir=here,
            env_file=here / env_file if env_file else None,
            version=labels.get(VERSION) or "",
        )

    @property
    def v1(self) -> bool:
        """Created by ``docker-compose`` 1.x (the Python one), whose hash holds the image ID."""
        return not self.version or self.version.startswith("1.")

    @property
    def program(self) -> tuple[str, ...]:
        return ("docker-compose",) if self.v1 else ("docker", "compose")


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposeChange:
    """What a compose container's replacement gets, decided before the swap: its image as
    compose names it, the compose labels that change, the compose file whose ``image:`` line of
    ``service`` goes from ``written`` to ``reference`` once the new container runs, and what the
    deploy's message should say about compose."""

    reference: str
    labels: Mapping[str, str]
    rewrite: Path | None = None
    service: str = ""
    written: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))


async def prepare(
    engine: Engine,
    service: ComposeService,
    *,
    written: str,
    wanted: str,
    image_id: str,
    rewrite: bool,
) -> ComposeChange:
    """Tag the pulled image ``image_id`` as compose will name it, and decide the replacement's
    image and labels. ``written``: the old container's ``Config.Image``; ``wanted``: the
    deploy's image as the container spells its repository (``registry/app:1.1@sha256:...``)."""
    reference = compose_reference(written, wanted)
    await tag(engine, image_id, reference)
    labels = {} if service.v1 else {IMAGE: image_id}
    change = ComposeChange(reference=reference, labels=labels, service=service.service)
    try:
        found = None
        if reference != written:
            found = await asyncio.to_thread(_rewritten, service, written, reference)
    except (ValueError, OSError) as exc:  # RewriteRefused, a file that is not UTF-8
        files = ", ".join(str(f) for f in service.files) or "its compose file"
        note = f"{files} names {written}, and regdeploy cannot rewrite its image: line: {exc}"
        return dataclasses.replace(change, notes=(note,))
    if found is None:  # the compose file names the image as it is
        hashed, notes = await _hashed(engine.settings, service, {}) if service.v1 else ({}, ())
        return dataclasses.replace(change, labels={**labels, **hashed}, notes=notes)
    path, text = found
    # With the file left as it is, a hash of it naming the new image makes compose see that
    # the container differs from it.
    hashed, notes = ({}, ())
    if service.v1 or rewrite:
        hashed, notes = await _hashed(engine.settings, service, {path: text})
    if not rewrite:
        command = " ".join(service.program)
        notes += (f"{path} still names {written}: `{command} up -d` would go back to it",)
    return dataclasses.replace(
        change,
        labels={**labels, **hashed},
        rewrite=path if rewrite else None,
        written=written,
        notes=notes,
    )


async def _hashed(
    settings: DockerSettings, service: ComposeService, replaced: Mapping[Path, str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The config hash label as compose computes it, or a note saying why it cannot be."""
    try:
        return {CONFIG_HASH: await config_hash(settings, service, replaced=replaced)}, ()
    except ComposeUnavailable as exc:
        command = " ".join(service.program)
        return {}, (f"kept its config hash, so `{command} up -d` will recreate it: {exc}",)


async def settle(change: ComposeChange) -> tuple[str, ...]:
    """The new container runs: rewrite the compose file; the notes for the deploy's message."""
    path = change.rewrite
    if path is None:
        return change.notes

    def rewrite() -> None:  # the file as it is now: someone may have edited it meanwhile
        text = path.read_bytes().decode()
        new = rewrite_image(text, service=change.service, old=change.written, new=change.reference)
        write_atomically(path, new)

    try:
        await asyncio.to_thread(rewrite)
    except (ValueError, OSError) as exc:  # RewriteRefused, a file that is not UTF-8
        return (*change.notes, f"could not rewrite {path}: {exc}")
    return (*change.notes, f"{path} now names {change.reference}")


async def restore_tag(engine: Engine, container: Mapping[str, Any]) -> None:
    """Point the tag a compose container names back at the image it runs (the swap failed, or
    was cut short), so that compose sees the old container as it left it."""
    written = str((container.get("Config") or {}).get("Image") or "")
    if written and container.get("Image"):
        await tag(engine, str(container["Image"]), written)


async def tag(engine: Engine, image_id: str, reference: str) -> None:
    """Name ``image_id`` ``reference`` locally, when it names a tag (a digest names itself)."""
    repository, tag_name, digest = split_reference(reference)
    if digest is None:
        await engine.call(lambda api: api.tag(image_id, repository, tag_name or "latest"))


def compose_reference(written: str, wanted: str) -> str:
    """The image compose names for the new container: ``written`` (the old container's image as
    the compose file names it) with the tag, and the digest if it pinned one, of ``wanted``."""
    repository, old_tag, old_digest = split_reference(written)
    _, new_tag, new_digest = split_reference(wanted)
    if old_digest is None and (new_tag or "latest") == (old_tag or "latest"):
        return written
    text = repository + (f":{new_tag}" if new_tag else "")
    return text + (f"@{new_digest}" if (old_digest or not new_tag) and new_digest else "")


async def config_hash(
    settings: DockerSettings, service: ComposeService, *, replaced: Mapping[Path, str]
) -> str:
    """The service's config hash as compose computes it (``config --hash``) on the engine of
    ``settings``, reading the files in ``replaced`` with their new text (copies elsewhere read
    the same: compose reads every path in them against the project directory)."""
    if not service.files:
        raise ComposeUnavailable("its labels name no compose file")
    program = shutil.which(service.program[0])
    if program is None:
        raise ComposeUnavailable(f"{service.program[0]} is not installed here")
    shown = f"{' '.join(service.program)} config"
    with tempfile.TemporaryDirectory(prefix="regdeploy-compose-") as scratch:
        files = await asyncio.to_thread(_stage, service.files, replaced, Path(scratch))
        argv = [
            program,
            *cli_tls_options(settings),
            *service.program[1:],
            *("-p", service.project, "--project-directory", str(service.working_dir)),
            *(["--env-file", str(service.env_file)] if service.env_file else []),
            *(option for f in files for option in ("-f", str(f))),
            *("config", f"--hash={service.service}"),
        ]
        output = await _run(argv, shown, settings)
    hashes = dict(line.strip().partition(" ")[::2] for line in output.splitlines())
    if not hashes.get(service.service):
        raise ComposeUnavailable(f"{shown} --hash named no hash")
    return hashes[service.service].strip()


def _stage(files: Sequence[Path], replaced: Mapping[Path, str], scratch: Path) -> list[Path]:
    """The files to give compose: a copy in ``scratch`` for each one replaced."""
    for path in files:
        if not path.is_file():
            raise ComposeUnavailable(f"{path} is not there")
    for number, path in enumerate(files):
        if path in replaced:
            (scratch / f"{number}-{path.name}").write_bytes(replaced[path].encode())
    return [scratch / f"{n}-{p.name}" if p in replaced else p for n, p in enumerate(files)]


async def _run(argv: Sequence[str], shown: str, settings: DockerSettings) -> str:
    """Run a compose command (``shown`` in messages); its output, or ``ComposeUnavailable``."""
    env, seconds = cli_environment(settings), settings.timeout_seconds
    pipe = asyncio.subprocess.PIPE
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=pipe, stderr=pipe, env=env
        )
    except OSError as exc:
        raise ComposeUnavailable(f"could not run {shown}: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError as exc:
        raise ComposeUnavailable(f"{shown} did not answer within {seconds:g} s") from exc
    finally:
        if process.returncode is None:  # timed out, or the deploy was cancelled
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        said = err.decode(errors="replace").strip().splitlines()
        raise ComposeUnavailable(f"{shown} failed: {said[-1] if said else process.returncode}")
    return out.decode(errors="replace")


def _rewritten(service: ComposeService, old: str, new: str) -> tuple[Path, str] | None:
    """The compose file that names the service's image (the last one: later files override
    earlier ones) and its text with ``new`` in place of ``old``; None when it names ``new``
    already (a rollback of a deploy that left the file as it was)."""
    found: tuple[Path, str] | None = None
    refusals, named = [], False
    for path in service.files:
        text = path.read_bytes().decode()
        try:
            rewritten = rewrite_image(text, service=service.service, old=old, new=new)
        except RewriteRefused as exc:
            refusals.append(f"{path}: {exc}")
            continue
        found, named = ((path, rewritten) if rewritten != text else None), True
    if not named:
        raise RewriteRefused("; ".join(refusals) or "the container names no compose file")
    return found
