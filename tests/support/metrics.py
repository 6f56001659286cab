"""Reading a ``/metrics`` exposition the way Prometheus does (prometheus-client's parser)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of ``text`` by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample ``name`` with exactly ``labels``; None when there is none."""
    return samples.get((name, frozenset(labels.items())))


def count(samples: Samples, name: str, **labels: str) -> float:
    """A counter's sample, 0 when it has not been counted yet."""
    return value(samples, name, **labels) or 0.0


async def scrape(client: Client, headers: dict[str, str] | None = None) -> Samples:
    """The app's ``/metrics``, parsed."""
    response = await client.get("/metrics", headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return parse(await response.text())
