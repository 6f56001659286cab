"""Every exception regdeploy raises on purpose, all under one root and all defined here.

RegdeployError
├── ConfigError            the configuration file is missing, unreadable or invalid
│   └── UnknownFormat          a source names a payload format no parser reads
├── PayloadError           an authenticated notification that cannot be used at all
├── InvalidReference       text that is not an image reference
├── PolicyError            a policy or tag filter that cannot be parsed
├── ReleaseRuleError       a deploy window, duration or approval count that cannot be parsed
├── StoreError             the database failed (receiver.store)
│   ├── DatabaseUnavailable    the database cannot be reached right now; retry later
│   ├── StoreConflict          a unique row exists already
│   ├── ConcurrentChange       a deadlock or serialization failure; trying again succeeds
│   └── LeaseLost              the lease a change was to be made under is no longer held
├── RegistryError          a registry refused or failed a request
│   └── RegistryUnavailable    it cannot answer now
│       └── TrustUnavailable       a trust check (registry, Harbor, nodes) cannot conclude now
├── DeployerUnavailable    an orchestrator could not say which workloads it runs; retry later
├── NoticeFailed           a notice could not be delivered (retry, or give up)
├── ApiCallFailed          the CLI's call to a running regdeploy failed (its message says why)
│   └── ServiceUnreachable     no regdeploy answers at that URL
└── RequestError           what a client asked for cannot be done (an HTTP 4xx)
    ├── InvalidRequest         the request is malformed or names a bad value (400)
    │   └── UnknownTag             the tag is not in the repository's catalog
    ├── NotAuthenticated       no valid credentials (401)
    ├── NotAllowed             the credentials may not do this (403)
    ├── NotFound               what the request names does not exist (404)
    │   ├── UnknownRepository      no watched repository has that name
    │   ├── UnknownDeployment      no deployment has that id
    │   ├── UnknownRollout         no rollout has that id
    │   ├── UnknownTarget          the repository has no target of that key or name
    │   ├── UnknownSource          no webhook source has that name
    │   └── UnknownRejection       no rejected body has that id
    ├── Conflict               what the request names is not in a state that allows it (409)
    │   └── NotWaiting             the deployment does not wait (for approvals)
    ├── BodyTooLarge           the body is over the configured cap (413)
    └── TooManyRequests        the client goes faster than ``rates:`` allow (429)

``receiver/http/errors.py`` is the one place that turns these into HTTP answers.
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


class UnknownFormat(ConfigError):
    """No parser reads the payload format a source names."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


class PayloadError(RegdeployError):
    """A notification body that no parser can turn into events; the message is the reason."""


class InvalidReference(RegdeployError):
    """Not a valid image reference."""


class PolicyError(RegdeployError):
    """A policy or tag filter is invalid; the message names the offending text."""


class ReleaseRuleError(RegdeployError):
    """A deploy window, a duration or an approval count is invalid; the message says why."""


class StoreError(RegdeployError):
    """The database refused or failed an operation."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached; the caller should answer 503 and let the sender retry."""


class StoreConflict(StoreError):
    """A row that must be unique exists already (two workers raced for the same thing)."""


class ConcurrentChange(StoreError):
    """Two transactions got in each other's way (a deadlock, a serialization failure): the
    database rolled one back, and running it again succeeds."""


class LeaseLost(StoreError):
    """This process no longer holds the lease it meant to act under (it expired, another
    process took it): the change is not made."""


class RegistryError(RegdeployError):
    """The registry refused or failed a request; ``status`` is its HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryUnavailable(RegistryError):
    """The registry cannot answer now (unreachable, timed out, 429/502/503/504)."""


class TrustUnavailable(RegistryUnavailable):
    """A trust check could not conclude now (``check`` names it: ``signature``, ``scan``,
    ``platform``): the deploy is tried again, never deployed unchecked."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


class DeployerUnavailable(RegdeployError):
    """An orchestrator (its API, its engine) did not answer a question about its workloads:
    the decision waits, the event stays pending. ``kind``: the deployer's target kind."""

    def __init__(self, message: str, *, kind: str = "unknown") -> None:
        super().__init__(message)
        self.kind = kind


class NoticeFailed(RegdeployError):
    """A notice could not be delivered. ``retry_after``: seconds the service asked to wait;
    ``permanent``: retrying cannot help (the service refused the message itself)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class ApiCallFailed(RegdeployError):
    """A call of the CLI to a running regdeploy's API failed: the message is the server's own
    (``status`` its HTTP status), or says what went wrong on the way."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServiceUnreachable(ApiCallFailed):
    """No regdeploy answers at the URL the CLI was given."""


class RequestError(RegdeployError):
    """What a client asked for cannot be done; the message says why, in its words.

    ``field`` names the part of the request at fault, where there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidRequest(RequestError):
    """The request is malformed, or a value in it is not acceptable."""


class UnknownTag(InvalidRequest):
    """The tag is not in the repository's catalog."""


class NotAuthenticated(RequestError):
    """The request carries no valid credentials."""


class NotAllowed(RequestError):
    """The credentials are valid but may not do this."""


class NotFound(RequestError):
    """What the request names does not exist."""


class UnknownRepository(NotFound):
    """No active watched repository has that name."""


class UnknownDeployment(NotFound):
    """No deployment has that id."""


class UnknownRollout(NotFound):
    """No rollout has that id."""


class UnknownTarget(NotFound):
    """The repository has no target of that key or name."""


class UnknownSource(NotFound):
    """No webhook source has that name."""


class UnknownRejection(NotFound):
    """No rejected body has that id."""


class Conflict(RequestError):
    """What the request names exists, but its state does not allow what was asked."""


class NotWaiting(Conflict):
    """The deployment does not wait (any more), or not for what was asked (approvals)."""


class BodyTooLarge(RequestError):
    """The body is larger than the configured cap."""


class TooManyRequests(RequestError):
    """The client goes faster than the configured rates allow; ``retry_after``: the seconds it
    should wait."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
