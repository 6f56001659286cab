"""PostgreSQL store: the only package that talks to the database."""

from receiver.store.database import SCHEMA_VERSION, schema_sql
from receiver.store.deployments import DeploymentQueries, EventClaim
from receiver.store.events import EventQueries
from receiver.store.notices import NoticeBatch, NoticeQueries, OutboxEntry
from receiver.store.repositories import CHANGEABLE, RepositoryQueries, UnknownRepository


class Store(EventQueries, RepositoryQueries, DeploymentQueries, NoticeQueries):
    """Every typed operation regdeploy performs on its database."""


__all__ = [
    "CHANGEABLE",
    "SCHEMA_VERSION",
    "EventClaim",
    "NoticeBatch",
    "OutboxEntry",
    "Store",
    "UnknownRepository",
    "schema_sql",
]
