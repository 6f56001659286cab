"""The metrics of one process: each call moves what it says, and the exposition shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from deployers.base import Target
from handlers.references import parse_reference
from receiver.errors import DeployerUnavailable, RegistryUnavailable, StoreError
from receiver.metrics import UNKNOWN_SOURCE, Metrics
from receiver.store.records import Backlog, Plan
from tests.support.metrics import Samples, count, parse, value

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BACKLOG = Backlog(
    pending_events=3,
    oldest_pending_at=NOW - timedelta(seconds=12.5),
    planned_deploys=2,
    running_deploys=1,
    pending_notices=4,
    failed_notices=5,
    now=NOW,
)


def scraped(metrics: Metrics, backlog: Backlog | None = BACKLOG) -> Samples:
    body, content_type = metrics.render(backlog)
    assert content_type == CONTENT_TYPE_PLAIN_0_0_4
    return parse(body.decode())


def plan(*, deploy: bool, adopted: bool = False) -> Plan:
    return Plan(
        target=Target(kind="swarm", name="web"),
        repository_name="team/app",
        image=parse_reference("registry.test/team/app:1.0.0@sha256:" + "a" * 64),
        deploy=deploy,
        adopted=adopted,
        reason="because",
        trigger="event",
    )


def test_webhook_answers_count_by_source_and_status_and_refusals_as_auth_failures() -> None:
    metrics = Metrics()
    metrics.answered(surface="webhook", source="registry", status=202)
    metrics.answered(surface="webhook", source="registry", status=401)
    metrics.answered(surface="webhook", source=UNKNOWN_SOURCE, status=404)
    metrics.answered(surface="api", source=None, status=403)
    metrics.answered(surface="api", source=None, status=200)

    s = scraped(metrics)
    assert count(s, "regdeploy_webhooks_total", source="registry", status="202") == 1
    assert count(s, "regdeploy_webhooks_total", source="registry", status="401") == 1
    assert count(s, "regdeploy_webhooks_total", source=UNKNOWN_SOURCE, status="404") == 1
    assert count(s, "regdeploy_auth_failures_total", surface="webhook", status="401") == 1
    assert count(s, "regdeploy_auth_failures_total", surface="api", status="403") == 1
    assert count(s, "regdeploy_auth_failures_total", surface="api", status="200") == 0


def test_events_count_by_outcome() -> None:
    metrics = Metrics()
    metrics.received("registry", {"accepted": 2, "duplicate": 1, "ignored": 3, "rejected": 0})
    metrics.event_failed("registry")
    s = scraped(metrics)
    assert count(s, "regdeploy_events_total", source="registry", outcome="accepted") == 2
    assert count(s, "regdeploy_events_total", source="registry", outcome="duplicate") == 1
    assert count(s, "regdeploy_events_total", source="registry", outcome="ignored") == 3
    assert count(s, "regdeploy_events_total", source="registry", outcome="failed") == 1


def test_decisions_count_deploys_adoptions_and_skips_from_zero() -> None:
    metrics = Metrics()
    assert count(scraped(metrics), "regdeploy_decisions_total", outcome="deploy") == 0
    metrics.decided([plan(deploy=True), plan(deploy=False), plan(deploy=False, adopted=True)])
    s = scraped(metrics)
    for outcome in ("deploy", "skip", "adopt"):
        assert value(s, "regdeploy_decisions_total", outcome=outcome) == 1


def test_deploys_count_by_kind_and_outcome_with_their_duration() -> None:
    metrics = Metrics()
    metrics.deployed(kind="swarm", outcome="succeeded", seconds=12.0)
    metrics.deployed(kind="swarm", outcome="failed", seconds=0.2)
    s = scraped(metrics)
    assert count(s, "regdeploy_deploys_total", kind="swarm", outcome="succeeded") == 1
    assert count(s, "regdeploy_deploys_total", kind="swarm", outcome="failed") == 1
    assert value(s, "regdeploy_deploy_duration_seconds_count", kind="swarm") == 2
    assert value(s, "regdeploy_deploy_duration_seconds_sum", kind="swarm") == 12.2
    assert value(s, "regdeploy_deploy_duration_seconds_bucket", kind="swarm", le="10.0") == 1


def test_failed_decisions_count_as_the_orchestrator_or_registry_errors_they_are() -> None:
    metrics = Metrics()
    metrics.decision_error(DeployerUnavailable("no answer", kind="nomad"))
    metrics.decision_error(RegistryUnavailable("no answer"))
    metrics.decision_error(StoreError("not counted here"))
    metrics.orchestrator_error("swarm")
    metrics.registry_error("confirm")
    s = scraped(metrics)
    assert count(s, "regdeploy_orchestrator_errors_total", kind="nomad") == 1
    assert count(s, "regdeploy_orchestrator_errors_total", kind="swarm") == 1
    assert count(s, "regdeploy_registry_errors_total", operation="decide") == 1
    assert count(s, "regdeploy_registry_errors_total", operation="confirm") == 1


def test_the_backlog_is_shown_as_scraped_and_left_out_when_the_database_is_down() -> None:
    metrics = Metrics()
    s = scraped(metrics)
    assert value(s, "regdeploy_database_up") == 1
    assert value(s, "regdeploy_pending_events") == 3
    assert value(s, "regdeploy_oldest_pending_event_age_seconds") == 12.5
    assert value(s, "regdeploy_planned_deploys") == 2
    assert value(s, "regdeploy_running_deploys") == 1
    assert value(s, "regdeploy_outbox_depth") == 4
    assert value(s, "regdeploy_failed_notices") == 5

    down = scraped(metrics, None)
    assert value(down, "regdeploy_database_up") == 0
    assert value(down, "regdeploy_pending_events") is None


def test_the_reconciler_counts_its_passes_and_finds_and_shows_its_lag() -> None:
    metrics = Metrics()
    assert value(scraped(metrics), "regdeploy_reconciler_lag_seconds") is None
    metrics.reconciled(found=0)
    metrics.reconciled(found=3)
    s = scraped(metrics)
    assert count(s, "regdeploy_reconciler_runs_total") == 2
    assert count(s, "regdeploy_reconciler_found_events_total") == 3
    assert count(s, "regdeploy_events_total", source="reconciler", outcome="accepted") == 3
    lag = value(s, "regdeploy_reconciler_lag_seconds")
    assert lag is not None and 0 <= lag < 5


def test_each_process_counts_on_its_own() -> None:
    one, other = Metrics(), Metrics()
    one.event_failed("registry")
    assert count(scraped(other), "regdeploy_events_total", source="registry", outcome="failed") == 0


def test_openmetrics_is_served_to_who_asks_for_it() -> None:
    body, content_type = Metrics().render(BACKLOG, accept="application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
