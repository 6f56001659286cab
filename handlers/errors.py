"""The exceptions regdeploy raises, all under one root.

RegdeployError
├── ConfigError            the configuration file is missing, unreadable or invalid
├── PayloadError           an authenticated notification that cannot be used at all
├── StoreError             the database failed (receiver.store)
│   ├── DatabaseUnavailable    the database cannot be reached right now; retry later
│   └── StoreConflict          a unique row exists already
├── RegistryError          a registry refused or failed a request
│   └── RegistryUnavailable    it cannot answer now
└── DeployerUnavailable    an orchestrator could not say which workloads it runs; retry later
"""

from __future__ import annotations


class RegdeployError(Exception):
    """Root of every error regdeploy raises on purpose."""


class ConfigError(RegdeployError):
    """The configuration is invalid; ``problems`` lists each one with its key path."""

    def __init__(self, problems: list[str], *, path: str = "") -> None:
        self.problems = tuple(problems)
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(problems))


class PayloadError(RegdeployError):
    """A notification body that no parser can turn into events; the message is the reason."""


class StoreError(RegdeployError):
    """The database refused or failed an operation."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached; the caller should answer 503 and let the sender retry."""


class StoreConflict(StoreError):
    """A row that must be unique exists already (two workers raced for the same thing)."""


class RegistryError(RegdeployError):
    """The registry refused or failed a request; ``status`` is its HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryUnavailable(RegistryError):
    """The registry cannot answer now (unreachable, timed out, 429/502/503/504)."""


class DeployerUnavailable(RegdeployError):
    """An orchestrator (its API, its engine) did not answer a question about its workloads:
    the decision waits, the event stays pending."""
