"""A real PostgreSQL for the tests: one embedded server per session, one database per test.

The schema is applied once to a template database; every test gets a fresh clone of it
(``CREATE DATABASE ... TEMPLATE``), which takes a few milliseconds.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from receiver.store.connector import schema_sql
from receiver.store.embedded import EmbeddedServer

TEMPLATE = "regdeploy_template"
_counter = itertools.count()


def database_uri(server_uri: str, name: str) -> str:
    """The URI of database ``name`` on the server of ``server_uri``."""
    parts = urlsplit(server_uri)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_sql(server_uri: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    conn = psycopg2.connect(server_uri)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def start_server(pgdata: Path) -> tuple[EmbeddedServer, str]:
    server = EmbeddedServer(pgdata=pgdata)
    return server, server.start()


def create_template(server_uri: str) -> None:
    admin_sql(server_uri, f"DROP DATABASE IF EXISTS {TEMPLATE}")
    admin_sql(server_uri, f"CREATE DATABASE {TEMPLATE}")
    conn = psycopg2.connect(database_uri(server_uri, TEMPLATE))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(schema_sql())
    finally:
        conn.close()


def fresh_database(server_uri: str) -> str:
    """Create a new database from the template and return its URI."""
    name = f"test_{next(_counter)}"
    admin_sql(server_uri, f"DROP DATABASE IF EXISTS {name}")
    admin_sql(server_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return database_uri(server_uri, name)
