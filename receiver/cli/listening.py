"""The sockets ``serve`` and ``worker --metrics-port`` listen on, bound before anything starts.

``bind`` binds them as asyncio's ``create_server`` would (every address ``host`` resolves to,
an empty host meaning every interface; ``SO_REUSEADDR``; IPv6 sockets IPv6 only), so that a port
another program holds is found before the service opens its database or starts its workers;
``refusal`` says in one line where, why, and what to do.
"""

from __future__ import annotations

import errno
import socket


def bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` (``""``: every interface) at ``port``, not
    listening yet. Raises ``OSError`` (``socket.gaierror`` for a name that does not resolve),
    with nothing left bound."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def refusal(exc: OSError, *, host: str, port: int, options: tuple[str, str], where: str) -> str:
    """One line: why ``host:port`` cannot be listened on, and what to do. ``options`` names how
    to choose another host and another port (``("--host", "--port")``); ``where`` says where
    they are to be found (a configuration file), or is empty."""
    address = address_text(host, port)
    host_option, port_option = options
    within = f" ({where})" if where else ""
    if exc.errno == errno.EADDRINUSE:
        why = "another regdeploy, or another program, listens there already; stop it, or"
        return f"cannot listen on {address}: {why} choose another port with {port_option}{within}"
    if exc.errno == errno.EACCES:
        why = "permission denied (a port below 1024 needs privileges)"
        return f"cannot listen on {address}: {why}; choose another port with {port_option}{within}"
    why = (exc.strerror or str(exc)).lower()
    return f"cannot listen on {address}: {why}; choose another address with {host_option}{within}"


def address_text(host: str, port: int) -> str:
    """``host:port`` as a person writes it: ``[::1]:8080``, ``*:8080`` for every interface."""
    if not host:
        return f"*:{port}"
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
