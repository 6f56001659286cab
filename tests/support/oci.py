"""Build OCI image layouts by hand (stdlib only, no network).

An image holds one gzipped tar layer with a static ``/bin/busybox`` (from Debian's
``busybox-static``) and the links ``bin/sh`` and ``bin/sleep``. Builds are deterministic:
the same arguments give the same digest; changing an ``env`` value gives a new one.

Push a layout with ``skopeo copy oci:DIR:TAG docker://...`` (see ``registry.Registry.push``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import tarfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

BUSYBOX_PATH = Path("/bin/busybox")
DEFAULT_CMD: tuple[str, ...] = ("/bin/sleep", "infinity")
DEFAULT_PATH_ENV = "/bin"
# Fixed timestamp for tar entries (2020-01-01T00:00:00Z) so builds are reproducible.
_MTIME = 1577836800
_CREATED = "2020-01-01T00:00:00Z"
# Serialises read-modify-write of index.json between threads of this process.
_INDEX_LOCK = threading.Lock()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@functools.cache
def _layer(busybox: Path) -> tuple[bytes, str, str]:
    """Return (gzipped tar, digest of the gzipped tar, diff_id of the plain tar).

    Cached per process: busybox is about 2 MB.
    """
    if not busybox.is_file():
        raise FileNotFoundError(
            f"{busybox} not found: install it with `apt-get install -y busybox-static`"
        )
    data = busybox.read_bytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = mode
            ti.mtime = _MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti

        tar.addfile(info("bin", tarfile.DIRTYPE, 0o755))
        exe = info("bin/busybox", tarfile.REGTYPE, 0o755)
        exe.size = len(data)
        tar.addfile(exe, io.BytesIO(data))
        for link in ("sh", "sleep"):
            sym = info(f"bin/{link}", tarfile.SYMTYPE, 0o777)
            sym.linkname = "busybox"
            tar.addfile(sym)
    plain = buf.getvalue()
    compressed = gzip.compress(plain, compresslevel=6, mtime=0)
    return compressed, _digest(compressed), _digest(plain)


def _write_blob(layout_dir: Path, data: bytes) -> dict[str, Any]:
    """Store ``data`` under blobs/sha256/ and return ``{"digest", "size"}``."""
    digest = _digest(data)
    blob_dir = layout_dir / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    path = blob_dir / digest.removeprefix("sha256:")
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return {"digest": digest, "size": len(data)}


def _init_layout(layout_dir: Path) -> None:
    layout_dir.mkdir(parents=True, exist_ok=True)
    marker = layout_dir / "oci-layout"
    if not marker.exists():
        marker.write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _tag(layout_dir: Path, tag: str, descriptor: dict[str, Any]) -> None:
    """Point ``tag`` in index.json at ``descriptor`` (replacing an earlier entry)."""
    with _INDEX_LOCK:
        _tag_locked(layout_dir, tag, descriptor)


def _tag_locked(layout_dir: Path, tag: str, descriptor: dict[str, Any]) -> None:
    index_path = layout_dir / "index.json"
    if index_path.exists():
        index: dict[str, Any] = json.loads(index_path.read_text())
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    manifests = [
        m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != tag
    ]
    manifests.append({**descriptor, "annotations": {REF_NAME: tag}})
    index["manifests"] = manifests
    tmp = index_path.with_name(f".index.json.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True))
    tmp.replace(index_path)


def _platform(spec: str) -> dict[str, str]:
    """``"amd64"``, ``"arm64/v8"`` or ``"linux/arm64/v8"`` -> an OCI platform object."""
    parts = spec.split("/")
    if parts[0] == "linux":
        parts = parts[1:]
    if not 1 <= len(parts) <= 2 or not parts[0]:
        raise ValueError(f"bad platform {spec!r}")
    platform = {"architecture": parts[0], "os": "linux"}
    if len(parts) == 2:
        platform["variant"] = parts[1]
    return platform


def _image_manifest(
    layout_dir: Path,
    *,
    env: dict[str, str] | None,
    cmd: Sequence[str] | None,
    platform: dict[str, str],
) -> dict[str, Any]:
    """Write layer, config and manifest blobs; return the manifest's descriptor."""
    _init_layout(layout_dir)
    layer, layer_digest, diff_id = _layer(BUSYBOX_PATH)
    layer_desc = _write_blob(layout_dir, layer)
    assert layer_desc["digest"] == layer_digest
    env_map = {"PATH": DEFAULT_PATH_ENV, **(env or {})}
    config = {
        "architecture": platform["architecture"],
        "os": "linux",
        **({"variant": platform["variant"]} if "variant" in platform else {}),
        "created": _CREATED,
        "config": {
            "Env": [f"{k}={v}" for k, v in env_map.items()],
            "Cmd": list(DEFAULT_CMD if cmd is None else cmd),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": _CREATED, "created_by": "tests/support/oci.py"}],
    }
    config_desc = _write_blob(layout_dir, _canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config_desc},
        "layers": [{"mediaType": OCI_LAYER_GZIP, **layer_desc}],
    }
    return {"mediaType": OCI_MANIFEST, **_write_blob(layout_dir, _canonical(manifest))}


def build_image(
    layout_dir: Path,
    *,
    tag: str,
    env: dict[str, str] | None = None,
    cmd: list[str] | None = None,
    arch: str = "amd64",
) -> str:
    """Write (or extend) the OCI layout at ``layout_dir`` with a single-arch image tagged ``tag``.

    ``env`` is added to the image's ``Env`` (after a default ``PATH=/bin``); ``cmd`` defaults to
    ``["/bin/sleep", "infinity"]``. Returns the manifest digest ``sha256:...``.
    """
    platform = _platform(arch)
    desc = _image_manifest(layout_dir, env=env, cmd=cmd, platform=platform)
    _tag(layout_dir, tag, {**desc, "platform": platform})
    digest: str = desc["digest"]
    return digest


def build_index(
    layout_dir: Path,
    *,
    tag: str,
    platforms: Sequence[str] = ("amd64", "arm64"),
    env: dict[str, str] | None = None,
    cmd: list[str] | None = None,
) -> str:
    """Write one image manifest per platform and an OCI index over them, tagged ``tag``.

    (The layer is the host's busybox whatever the platform: fine for a registry, not for
    running a foreign architecture.) Returns the index digest ``sha256:...``.
    """
    if not platforms:
        raise ValueError("an index needs at least one platform")
    children = []
    for spec in platforms:
        platform = _platform(spec)
        desc = _image_manifest(layout_dir, env=env, cmd=cmd, platform=platform)
        children.append({**desc, "platform": platform})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    desc = {"mediaType": OCI_INDEX, **_write_blob(layout_dir, _canonical(index))}
    _tag(layout_dir, tag, desc)
    digest: str = desc["digest"]
    return digest
