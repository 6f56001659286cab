"""A private Docker engine (``dockerd``) with a one-node swarm, for the tests that move real
Swarm services and containers.

The daemon keeps everything under a short directory in ``/tmp`` (a unix socket path must stay
under about 100 bytes), uses the ``vfs`` storage driver and neither iptables nor the default
bridge, so it runs beside any other engine on the machine. It pulls from ``127.0.0.1``
registries over plain HTTP, as every engine does for loopback registries. A swarm manager
listens on 127.0.0.1: port 2377 when free, otherwise another free port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import IO

import docker
import docker.errors

from tests.support.components import free_port, port_free, require_binary
from tests.support.polling import until_sync

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SWARM_PORT = 2377


class DockerEngine:
    """One ``dockerd`` process; ``host`` is its ``unix://`` address. With ``tls`` it also
    listens on ``tls_host`` (TCP, TLS with client certificates from ``certs``: ca.pem, cert.pem,
    key.pem, as ``DOCKER_CERT_PATH`` holds them); with ``swarm`` it is a one-node swarm.
    ``make demo`` starts one without either."""

    def __init__(self, *, swarm: bool = True, tls: bool = True) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dk-", dir="/tmp"))
        self.socket = self.root / "d.sock"
        self.certs = self.root / "certs"
        self.tls_port = 0
        self.swarm = swarm
        self.tls = tls
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def tls_host(self) -> str:
        return f"tcp://127.0.0.1:{self.tls_port}"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, version="auto", timeout=120)

    def start(self) -> DockerEngine:
        dockerd = require_binary("dockerd")
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [
                dockerd,
                *("--data-root", str(self.root / "data")),
                *("--exec-root", str(self.root / "exec")),
                *("--host", self.host),
                *self._tls_options(),
                *("--pidfile", str(self.root / "dockerd.pid")),
                "--iptables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        if self.swarm:
            self._init_swarm()
        return self

    def _tls_options(self) -> list[str]:
        if not self.tls:
            return []
        server = make_certificates(self.certs)
        self.tls_port = free_port()
        return [
            *("--host", self.tls_host),
            "--tlsverify",
            *("--tlscacert", str(self.certs / "ca.pem")),
            *("--tlscert", str(server / "cert.pem")),
            *("--tlskey", str(server / "key.pem")),
        ]

    def _wait_ready(self) -> None:
        until_sync(
            "dockerd answers",
            self._answers,
            seconds=START_TIMEOUT,
            interval=0.2,
            explain=lambda: f"its log:\n{self.read_log()}",
            ignoring=(docker.errors.DockerException, OSError),
        )

    def _answers(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError(f"dockerd exited at start:\n{self.read_log()}")
        if not self.socket.exists():
            return False
        client = self.client()
        try:
            return bool(client.ping())
        finally:
            client.close()

    def _init_swarm(self) -> None:
        client = self.client()
        try:
            port = SWARM_PORT if port_free(SWARM_PORT) else free_port()
            client.swarm.init(
                advertise_addr="127.0.0.1", listen_addr=f"127.0.0.1:{port}", force_new_cluster=True
            )
        finally:
            client.close()

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(docker.errors.DockerException, OSError):
                client = self.client()
                try:
                    if self.swarm:
                        client.swarm.leave(force=True)
                    for container in client.containers.list(all=True):
                        container.remove(force=True)
                finally:
                    client.close()
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        if self._log is not None:
            self._log.close()
        _unmount_below(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def make_certificates(directory: Path) -> Path:
    """A CA, a client certificate signed by it in ``directory`` (ca.pem, cert.pem, key.pem) and
    a server certificate for 127.0.0.1 in ``directory/server``, made with the openssl CLI."""
    openssl = require_binary("openssl")
    server = directory / "server"
    server.mkdir(parents=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run(
        "req",
        "-x509",
        *ec,
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    )
    for name, subject, extension in (
        ("server/", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("", "/CN=regdeploy", "extendedKeyUsage=clientAuth"),
    ):
        (directory / f"{name}ext.cnf").write_text(extension + "\n")
        run("req", *ec, "-subj", subject, "-keyout", f"{name}key.pem", "-out", f"{name}req.pem")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}req.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}ext.cnf",
            "-out",
            f"{name}cert.pem",
        )
    return server


def _unmount_below(root: Path) -> None:
    """Unmount what the daemon left mounted under ``root`` (netns and shm mounts), deepest
    first, so the directory can be removed."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root) + "/"
    points = sorted((m.split()[1] for m in mounts if m.split()[1].startswith(prefix)), reverse=True)
    for point in points:
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def clean(engine: DockerEngine) -> None:
    """Remove every service, container and user network a test left on the shared engine."""
    client = engine.client()
    try:
        # Removing a service also removes its task containers: one listed a moment ago may be
        # gone by the time it is removed.
        for service in client.services.list():
            with contextlib.suppress(docker.errors.NotFound):
                service.remove()
        for container in client.containers.list(all=True):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        for network in client.networks.list():
            if network.name not in ("bridge", "host", "none", "ingress", "docker_gwbridge"):
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()
        client.volumes.prune()
    finally:
        client.close()
