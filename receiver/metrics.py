"""Prometheus metrics: every metric regdeploy exports, defined here and nowhere else.

Each running regdeploy (the web app, a ``regdeploy worker``) owns one ``Metrics`` with its own
``CollectorRegistry``, so every replica serves the counts of its own process and tests stay
independent of each other. Counters move where things happen, by one call each; the gauges of
the database's state (the queue, the outbox) are read from the store when ``/metrics`` is
scraped, and are the same in every replica (aggregate them with ``max``, not ``sum``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from receiver.decide.rules.release import WaitKind
from receiver.decide.trust.policy import CheckOutcome, CheckResult
from receiver.errors import DeployerUnavailable, RegistryError
from receiver.store.records import Backlog, Plan

#: The source label of a notification posted to a source that is not configured.
UNKNOWN_SOURCE = "_unknown"
_DEPLOY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Metrics:
    """The metrics of one process, and one method for each thing that moves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        count = self._counter
        self.webhooks = count(
            "webhooks", "Notifications answered, by source and HTTP status.", "source", "status"
        )
        self.events = count(
            "events", "Events by source and outcome (failed: their decision).", "source", "outcome"
        )
        self.decisions = count(
            "decisions", "Decisions about one target: deploy, adopt or skip.", "outcome"
        )
        for outcome in ("deploy", "adopt", "skip"):
            self.decisions.labels(outcome)  # counted from 0, so that rates exist at once
        self.deploys = count(
            "deploys",
            "Deploy attempts finished, by target kind and the attempt's outcome.",
            "kind",
            "outcome",
        )
        self.deploy_seconds = Histogram(
            "regdeploy_deploy_duration_seconds",
            "How long a deploy attempt took, by target kind.",
            ("kind",),
            buckets=_DEPLOY_BUCKETS,
            registry=self.registry,
        )
        self.orchestrator_errors = count(
            "orchestrator_errors", "Orchestrators that failed or did not answer, by kind.", "kind"
        )
        self.registry_errors = count(
            "registry_errors",
            "Registry API requests that failed, by what they were for: confirm, decide, reconcile.",
            "operation",
        )
        self.auth_failures = count(
            "auth_failures",
            "Requests refused for their credentials, by surface (api, console, webhook, metrics) "
            "and status (401: none or wrong, 403: a read token writing).",
            "surface",
            "status",
        )
        self.throttled = count(
            "throttled",
            "Requests answered 429 for going faster than rates: allow, by surface (webhook: a "
            "source's rate or an address's failed authentications; api, console, metrics: an "
            "address's failed authentications).",
            "surface",
        )
        self.reconciler_runs = count("reconciler_runs", "Reconciler passes completed.")
        self.reconciler_found = count(
            "reconciler_found_events", "Events the reconciler found that notifications missed."
        )
        self._count_release()
        self._count_rollouts()
        self._count_reloads()
        self._scraped = _ScrapeTimeGauges()
        self.registry.register(self._scraped)

    def _count_release(self) -> None:
        """Release control's counters: waits started and ended, votes."""
        count = self._counter
        self.waits = count(
            "waits", "Deploys that started to wait, by what they waited for.", "reason"
        )
        self.waits_ended = count(
            "waits_ended", "Waiting deploys that ended: released, rejected or expired.", "outcome"
        )
        self.approvals = count(
            "approvals", "Votes on waiting deploys that counted: approve or reject.", "vote"
        )
        for reason in WaitKind:
            self.waits.labels(reason.value)
        for ended in ("released", "rejected", "expired"):
            self.waits_ended.labels(ended)
        for vote in ("approve", "reject"):
            self.approvals.labels(vote)
        self.trust_checks = count(
            "trust_checks",
            "Trust checks run on a digest about to be deployed, by check and outcome (passed, "
            "refused, waiting, unavailable: it could not conclude and is tried again).",
            "check",
            "outcome",
        )
        self.trust_refusals = count(
            "trust_refusals",
            "Digests a trust check refused, by check and reason.",
            "check",
            "reason",
        )

    def _count_rollouts(self) -> None:
        """Rollouts: started and ended by outcome, how long each wave took, targets rolled back."""
        count = self._counter
        self.rollouts = count(
            "rollouts",
            "Rollouts by outcome: started, then completed, halted, rolled_back or abandoned.",
            "outcome",
        )
        for outcome in ("started", "completed", "halted", "rolled_back", "abandoned"):
            self.rollouts.labels(outcome)
        self.rollbacks = count(
            "rollbacks", "Targets a halted rollout moved back to the image they ran before."
        )
        self.wave_seconds = Histogram(
            "regdeploy_rollout_wave_seconds",
            "How long a rollout's wave took, from its start to its soak's end (or its failure).",
            ["outcome"],
            buckets=(10, 30, 60, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=self.registry,
        )

    def rollout_started(self) -> None:
        self.rollouts.labels("started").inc()

    def rollout_ended(self, outcome: str) -> None:
        self.rollouts.labels(outcome).inc()

    def wave_ended(self, *, outcome: str, seconds: float) -> None:
        self.wave_seconds.labels(outcome).observe(seconds)

    def rolled_back(self, count: int) -> None:
        self.rollbacks.inc(count)

    def _count_reloads(self) -> None:
        """Reloads of the configuration, and the one this process runs."""
        self.reloads = self._counter(
            "config_reloads",
            "Reloads of the configuration file: reloaded, unchanged (the file holds what runs) "
            "refused (the file has problems; the running configuration stays) or failed (the "
            "database did not answer; nothing changed).",
            "outcome",
        )
        for outcome in ("reloaded", "unchanged", "refused", "failed"):
            self.reloads.labels(outcome)
        self.config_info = Gauge(
            "regdeploy_config_info",
            "1 for the fingerprint of the configuration this process runs (regdeploy status "
            "shows every process's).",
            ("fingerprint",),
            registry=self.registry,
        )

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        """The counter exported as ``regdeploy_{name}_total``."""
        return Counter(f"regdeploy_{name}", documentation, labels, registry=self.registry)

    def answered(self, *, surface: str, source: str | None, status: int) -> None:
        """An HTTP answer: a webhook's (``source`` set), and any refusal for credentials."""
        if source is not None:
            self.webhooks.labels(source, str(status)).inc()
        if status in (401, 403):
            self.auth_failures.labels(surface, str(status)).inc()
        elif status == 429:
            self.throttled.labels(surface).inc()

    def received(self, source: str, counts: Mapping[str, int]) -> None:
        """What one notification held: outcome (accepted, duplicate, ...) -> events."""
        for outcome, count in counts.items():
            self.events.labels(source, outcome).inc(count)

    def event_failed(self, source: str) -> None:
        self.events.labels(source, "failed").inc()

    def decided(self, plans: Iterable[Plan]) -> None:
        for plan in plans:
            outcome = "adopt" if plan.adopted else "deploy" if plan.deploy else "skip"
            self.decisions.labels(outcome).inc()

    def decision_error(self, error: Exception) -> None:
        """A decision that could not be made for an orchestrator's or a registry's failure."""
        if isinstance(error, DeployerUnavailable):
            self.orchestrator_errors.labels(error.kind).inc()
        elif isinstance(error, RegistryError):
            self.registry_errors.labels("decide").inc()

    def deployed(self, *, kind: str, outcome: str, seconds: float) -> None:
        self.deploys.labels(kind, outcome).inc()
        self.deploy_seconds.labels(kind).observe(seconds)

    def orchestrator_error(self, kind: str) -> None:
        self.orchestrator_errors.labels(kind).inc()

    def registry_error(self, operation: str) -> None:
        self.registry_errors.labels(operation).inc()

    def started_waiting(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.waits.labels(reason).inc()

    def ended_waiting(self, outcome: str) -> None:
        self.waits_ended.labels(outcome).inc()

    def checked(self, results: Iterable[CheckResult]) -> None:
        for result in results:
            self.trust_checks.labels(result.check.value, result.outcome.value).inc()
            if result.outcome is CheckOutcome.REFUSED:
                self.trust_refusals.labels(result.check.value, result.reason or "other").inc()

    def check_unavailable(self, check: str) -> None:
        self.trust_checks.labels(check, "unavailable").inc()

    def voted(self, *, approve: bool) -> None:
        self.approvals.labels("approve" if approve else "reject").inc()

    def config_loaded(self, fingerprint: str) -> None:
        """The configuration with ``fingerprint`` runs now (at the start, after a reload)."""
        self.config_info.clear()
        self.config_info.labels(fingerprint).set(1)

    def reloaded(self, outcome: str) -> None:
        self.reloads.labels(outcome).inc()

    def reconciled(self, *, found: int) -> None:
        """A completed reconciler pass that recorded ``found`` events."""
        self.reconciler_runs.inc()
        self.reconciler_found.inc(found)
        if found:
            self.events.labels("reconciler", "accepted").inc(found)
        self._scraped.reconciled_at = time.monotonic()

    def render(self, backlog: Backlog | None, *, accept: str = "") -> tuple[bytes, str]:
        """The exposition (in the format ``accept`` asks for) and its content type;
        ``backlog`` None: the database did not answer."""
        self._scraped.backlog = backlog
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class _ScrapeTimeGauges(Collector):
    """Gauges computed when scraped: the database's backlog, the reconciler's lag."""

    def __init__(self) -> None:
        self.backlog: Backlog | None = None
        self.reconciled_at: float | None = None

    def collect(self) -> Iterator[Metric]:
        yield _gauge(
            "regdeploy_database_up",
            "1 when the database answered this scrape.",
            0 if self.backlog is None else 1,
        )
        if self.reconciled_at is not None:
            yield _gauge(
                "regdeploy_reconciler_lag_seconds",
                "Seconds since this process last completed a reconciler pass.",
                time.monotonic() - self.reconciled_at,
            )
        if self.backlog is None:
            return
        b = self.backlog
        for name, text, value in (
            ("pending_events", "Events waiting for a decision.", b.pending_events),
            (
                "oldest_pending_event_age_seconds",
                "Age of the oldest event waiting for a decision (0 when none is).",
                b.oldest_pending_seconds,
            ),
            ("planned_deploys", "Deploys queued.", b.planned_deploys),
            ("running_deploys", "Deploys running.", b.running_deploys),
            ("outbox_depth", "Notices waiting to be sent.", b.pending_notices),
            ("failed_notices", "Notices given up on.", b.failed_notices),
        ):
            yield _gauge(f"regdeploy_{name}", text, value)
        waiting = GaugeMetricFamily(
            "regdeploy_waiting_deploys",
            "Deploys waiting, by what they wait for (one waiting for two things counts twice).",
            labels=("reason",),
        )
        for reason in WaitKind:
            waiting.add_metric((reason.value,), b.waiting_reasons.get(reason.value, 0))
        yield waiting


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
