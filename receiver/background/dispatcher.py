"""Runs one claimed deployment: confirm the digest, run the trust checks on it
(``receiver.decide.trust.checks``), deploy, record the outcome.

Re-running an applied deploy is a no-op: the target is read first, and a target that already
runs the digest is recorded as succeeded without calling the deployer.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from deployers.base import Deployer, Deployers, DeployOutcome, DeployResult
from handlers.references import ImageRef
from receiver.background.inventory import Inventory
from receiver.background.loop import backoff
from receiver.bounds import capped
from receiver.clock import Clock
from receiver.config.server import WorkerConfig
from receiver.decide.announcer import Announcer
from receiver.decide.trust.checks import TrustChecks
from receiver.decide.trust.policy import CheckResult
from receiver.errors import RegistryError, RegistryUnavailable, TrustUnavailable
from receiver.metrics import Metrics
from receiver.store.deployments import DeploymentQueries
from receiver.store.notices import NoticeQueries
from receiver.store.records import Deployment, DeploymentStatus

log = structlog.get_logger("regdeploy.dispatcher")


class Confirmation(Protocol):
    """Asks the registry whether it serves the image: None when it does, else why not
    (``receiver.registry.confirm``); raises ``RegistryError`` when it cannot tell."""

    async def refusal(self, image: ImageRef) -> str | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchResult:
    """How an attempt went; ``checks``: what the trust checks said (None: they did not run);
    ``hold_until``: a check holds the deploy back until then (it waits)."""

    status: DeploymentStatus
    message: str
    retry: bool = False
    checks: tuple[CheckResult, ...] | None = None
    hold_until: datetime | None = None


_STATUS = {
    DeployOutcome.SUCCEEDED: DeploymentStatus.SUCCEEDED,
    DeployOutcome.FAILED: DeploymentStatus.FAILED,
    DeployOutcome.ROLLED_BACK: DeploymentStatus.ROLLED_BACK,
    DeployOutcome.CONFLICT: DeploymentStatus.CONFLICT,
}


class Dispatcher:
    def __init__(
        self,
        *,
        deployments: DeploymentQueries,
        notices: NoticeQueries,
        deployers: Deployers,
        inventory: Inventory,
        config: WorkerConfig,
        confirmation: Confirmation,
        trust: TrustChecks,
        worker_id: str,
        dry_run: bool,
        announcer: Announcer,
        metrics: Metrics,
        clock: Clock,
        reason_bytes: int,
    ) -> None:
        """``reason_bytes``: how much of an outcome's message (an orchestrator's words) is
        kept."""
        self._deployments = deployments
        self._notices = notices
        self._deployers = deployers
        self._inventory = inventory
        self._config = config
        self._confirmation = confirmation
        self._trust = trust
        self._worker_id = worker_id
        self._dry_run = dry_run
        self._announcer = announcer
        self._metrics = metrics
        self._clock = clock
        self._reason_bytes = reason_bytes

    @property
    def worker_id(self) -> str:
        return self._worker_id

    async def run(self, deployment: Deployment) -> DeploymentStatus:
        """Attempt ``deployment`` (claimed by this worker) and record how it went."""
        bound = log.bind(
            deployment=deployment.id,
            target=deployment.target.key,
            image=str(deployment.image),
            attempt=deployment.attempts,
        )
        bound.info("deploy_started")
        started = self._clock.now()
        done = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(deployment.id, done))
        try:
            attempted = await self._attempt(deployment)
            verdict = replace(attempted, message=capped(attempted.message, self._reason_bytes))
        finally:
            done.set()  # not cancelled: a heartbeat query is never cut off half-way
            await beat
            self._inventory.changed(deployment.target.kind)  # what runs there may have moved
        if verdict.hold_until is not None:
            stored = await self._deployments.hold_deployment(
                deployment,
                worker=self._worker_id,
                checks=verdict.checks or (),
                words=verdict.message,
                until=verdict.hold_until,
                now=self._clock.now(),
            )
            bound.info("deploy_held", status=stored.value, message=verdict.message)
            return stored
        stored = await self._deployments.finish_deployment(
            deployment,
            worker=self._worker_id,
            status=verdict.status,
            message=verdict.message,
            retry_at=self._retry_at(deployment) if verdict.retry else None,
            announce=lambda status, message: self._announcer.outcome(
                deployment, status, message, finished=self._clock.now()
            ),
            checks=verdict.checks,
        )
        seconds = round((self._clock.now() - started).total_seconds(), 2)
        self._metrics.deployed(
            kind=deployment.target.kind, outcome=verdict.status.value, seconds=seconds
        )
        event = "deploy_succeeded" if stored is DeploymentStatus.SUCCEEDED else "deploy_finished"
        bound.info(
            event,
            status=stored.value,
            outcome=verdict.status.value,
            message=verdict.message,
            seconds=seconds,
        )
        return stored

    async def _attempt(self, deployment: Deployment) -> DispatchResult:
        target, image = deployment.target, deployment.image
        deployer = self._deployers.get(target.kind)
        if deployer is None:
            return DispatchResult(
                status=DeploymentStatus.FAILED, message=f"no deployer for kind {target.kind!r}"
            )
        unconfirmed = await self._confirm(deployment)
        if unconfirmed is not None:
            return unconfirmed
        trusted = await self._check(deployment)
        if trusted.status is not DeploymentStatus.RUNNING:
            return trusted
        checks = trusted.checks
        if self._dry_run:
            return DispatchResult(
                status=DeploymentStatus.DRY_RUN,
                message=f"dry run: would deploy {image}",
                checks=checks,
            )
        await self._notices.enqueue_notices(self._announcer.started(deployment))
        result = await self._deploy(deployment, deployer)
        return replace(self._verdict(result, deployment), checks=checks)

    async def _deploy(self, deployment: Deployment, deployer: Deployer) -> DeployResult:
        target, image = deployment.target, deployment.image
        try:
            running = await deployer.current(target, image.name)
            if running is not None and running.image.digest == image.digest:
                return DeployResult(
                    outcome=DeployOutcome.SUCCEEDED, message=f"already runs {image}: nothing to do"
                )
            result = await asyncio.wait_for(
                deployer.deploy(target, image), self._config.deploy_timeout_seconds
            )
        except TimeoutError:
            self._metrics.orchestrator_error(target.kind)
            seconds = self._config.deploy_timeout_seconds
            result = DeployResult(
                outcome=DeployOutcome.FAILED, message=f"no answer within {seconds} s"
            )
        except Exception as exc:  # a deployer's failure is recorded, never the worker's end
            log.exception("deployer_error", target=target.key)
            self._metrics.orchestrator_error(target.kind)
            result = DeployResult(
                outcome=DeployOutcome.FAILED, message=f"{type(exc).__name__}: {exc}"
            )
        return result

    def _verdict(self, result: DeployResult, deployment: Deployment) -> DispatchResult:
        status = _STATUS[result.outcome]
        # A conflict (someone changed the target meanwhile) is retried like a failure: the next
        # attempt reads the target again and finds out whether it still needs the image.
        retry = (
            result.outcome in (DeployOutcome.FAILED, DeployOutcome.CONFLICT)
            and result.retryable
            and deployment.tries < self._config.max_attempts
        )
        return DispatchResult(status=status, message=result.message, retry=retry)

    async def _confirm(self, deployment: Deployment) -> DispatchResult | None:
        """None when the registry confirms the image; otherwise what to record instead of a
        deploy. A refusal is final; a registry that cannot answer now is asked again later
        (however many attempts that takes); one that refuses to answer, up to the attempts."""
        image = deployment.image
        try:
            refusal = await self._confirmation.refusal(image)
        except RegistryError as exc:
            log.warning("digest_unconfirmed", image=str(image), error=str(exc))
            self._metrics.registry_error("confirm")
            if isinstance(exc, RegistryUnavailable):
                return self._later(deployment, f"not confirmed by the registry yet: {exc}")
            said = f"the registry did not confirm the digest: {exc}"
            return self._later(deployment, said, bounded=True)
        if refusal is not None:
            log.warning("deploy_refused", image=str(image), reason=refusal)
            return DispatchResult(status=DeploymentStatus.SKIPPED, message=refusal)
        return None

    async def _check(self, deployment: Deployment) -> DispatchResult:
        """The trust checks' verdict on the deployment's digest: ``running`` with the results
        when they pass; refused, held back, or tried again later otherwise."""
        image = deployment.image
        try:
            verdict = await self._trust.judge(
                target=deployment.target,
                image=image,
                repository=deployment.repository_name,
                held_since=deployment.held_since,
            )
        except TrustUnavailable as exc:
            log.warning("trust_unchecked", image=str(image), check=exc.check, error=str(exc))
            self._metrics.check_unavailable(exc.check)
            return self._later(deployment, f"{exc.check} not checked yet: {exc}")
        except RegistryError as exc:
            log.warning("trust_unchecked", image=str(image), error=str(exc))
            self._metrics.registry_error("trust")
            return self._later(deployment, f"not checked: {exc}", bounded=True)
        except Exception as exc:  # a check's own failure is recorded, never a deploy
            log.exception("trust_check_failed", image=str(image))
            return self._later(deployment, f"not checked: {type(exc).__name__}", bounded=True)
        self._metrics.checked(verdict.results)
        if (refusal := verdict.refusal) is not None:
            log.warning("deploy_refused", image=str(image), check=refusal.check.value,
                        reason=refusal.reason, message=refusal.words)  # fmt: skip
            return DispatchResult(
                status=DeploymentStatus.REFUSED, message=refusal.line, checks=verdict.results
            )
        if verdict.hold_until is not None:
            return DispatchResult(
                status=DeploymentStatus.WAITING,
                message=verdict.words,
                checks=verdict.results,
                hold_until=verdict.hold_until,
            )
        return DispatchResult(
            status=DeploymentStatus.RUNNING, message="checked", checks=verdict.results
        )

    def _later(
        self, deployment: Deployment, message: str, *, bounded: bool = False
    ) -> DispatchResult:
        """Not deployed now: tried again later, however many attempts that takes (something
        that cannot answer now), or up to the attempts (``bounded``: something that refused to
        answer)."""
        retry = not bounded or deployment.tries < self._config.max_attempts
        return DispatchResult(status=DeploymentStatus.FAILED, message=message, retry=retry)

    def _retry_at(self, deployment: Deployment) -> datetime:
        config = self._config
        delay = backoff(
            max(deployment.tries, 1), base=config.retry_base_seconds, cap=config.retry_max_seconds
        )
        return self._clock.now() + timedelta(seconds=delay)

    async def _heartbeat(self, deployment_id: int, done: asyncio.Event) -> None:
        interval = self._config.stall_timeout_seconds / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), interval)
            if done.is_set():
                return
            try:
                await self._deployments.heartbeat(deployment_id, worker=self._worker_id)
            except Exception:  # keep beating through a passing database outage
                log.warning("heartbeat_failed", deployment=deployment_id)
