"""Where ``serve`` and ``worker --metrics-port`` listen: bound before anything starts, and a port
another program holds said in one line."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

from receiver.cli.listening import address_text, bind, refusal

SERVE = ("--host or server.host", "--port or server.port")


@pytest.fixture
def listener() -> Iterator[int]:
    """A port another program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def test_a_port_another_program_listens_on_cannot_be_bound(listener: int) -> None:
    with pytest.raises(OSError) as refused:
        bind("127.0.0.1", listener)
    assert refused.value.errno == errno.EADDRINUSE


def test_a_free_port_is_bound_and_not_listened_on_yet() -> None:
    [sock] = bind("127.0.0.1", 0)
    with sock:
        assert sock.getsockname()[0] == "127.0.0.1"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(sock.getsockname(), timeout=5).close()


@pytest.mark.parametrize(
    ("code", "line"),
    [
        (
            errno.EADDRINUSE,
            "cannot listen on 127.0.0.1:8080: another regdeploy, or another program, listens "
            "there already; stop it, or choose another port with --port or server.port "
            "(config.yaml)",
        ),
        (
            errno.EACCES,
            "cannot listen on 127.0.0.1:8080: permission denied (a port below 1024 needs "
            "privileges); choose another port with --port or server.port (config.yaml)",
        ),
        (
            errno.EADDRNOTAVAIL,
            "cannot listen on 127.0.0.1:8080: cannot assign requested address; choose another "
            "address with --host or server.host (config.yaml)",
        ),
    ],
)
def test_a_refusal_says_why_and_which_option_chooses_another(code: int, line: str) -> None:
    exc = OSError(code, "Cannot assign requested address")
    assert refusal(exc, host="127.0.0.1", port=8080, options=SERVE, where="config.yaml") == line


def test_a_refusal_without_a_file_names_the_options_alone() -> None:
    exc = OSError(errno.EADDRINUSE, "Address already in use")
    options = ("--metrics-host", "--metrics-port")
    assert refusal(exc, host="::1", port=9100, options=options, where="").endswith(
        "stop it, or choose another port with --metrics-port"
    )


@pytest.mark.parametrize(
    ("host", "text"),
    [
        ("127.0.0.1", "127.0.0.1:80"),
        ("::1", "[::1]:80"),
        ("", "*:80"),
        ("h.example", "h.example:80"),
    ],
)
def test_an_address_is_written_as_a_person_writes_it(host: str, text: str) -> None:
    assert address_text(host, 80) == text
