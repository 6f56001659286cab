"""What the trust checks said, where a person looks in the console: a deployment's page and
Explain show each check's line, in the API's words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deployers.base import Deployers
from handlers.references import parse_reference
from receiver.app import init_app
from receiver.decide.rules.release import ReleaseRules
from receiver.decide.trust.policy import Check, CheckOutcome, CheckResult
from receiver.reloading import services_of
from receiver.store.records import DeploymentStatus, Plan
from tests.support.api import ClientFactory
from tests.support.console_forms import sign_in
from tests.support.decisions import record_plans
from tests.support.pushes import REGISTRY, WEB, push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import api_headers, make_config

Client = TestClient[Any, Any]
SAID = (
    CheckResult(check=Check.SIGNATURE, outcome=CheckOutcome.PASSED,
                words="verified by key ops-2025 (legacy .sig)"),
    CheckResult(check=Check.PLATFORM, outcome=CheckOutcome.REFUSED, reason="platform_missing",
                words="image has linux/arm64; 2 nodes are linux/amd64"),
)  # fmt: skip


@pytest.fixture
async def console(aiohttp_client: ClientFactory, db_uri: str) -> Client:
    config = make_config(db_uri, registry=REGISTRY, confirm_digests=False,
                         repositories=[repository()])  # fmt: skip
    deployer = RecordingDeployer()
    deployer.run(WEB, ref("1.1.0", 2))
    client = await aiohttp_client(init_app(config, deployers=Deployers([deployer])))
    await push(client, "1.2.0", 3)
    return client


async def refused_deployment(client: Client) -> int:
    """A deploy of 1.2.0 the platform check refused, as the dispatcher records it."""
    store = services_of(client.app).store
    image = parse_reference(ref("1.2.0", 3))
    plan = Plan(target=WEB, repository_name="team/app", image=image, deploy=True,
                reason="1.2.0 is newer than running 1.1.0", trigger="push",
                release=ReleaseRules())  # fmt: skip
    [planned] = await record_plans(store, [plan])
    claimed = await store.deployments.claim_deployment(worker="w", now=datetime.now(UTC))
    assert claimed is not None and claimed.id == planned
    await store.deployments.finish_deployment(
        claimed, worker="w", status=DeploymentStatus.REFUSED, message=SAID[1].line, checks=SAID
    )
    return planned


async def test_a_deployments_page_and_explain_show_each_check(console: Client) -> None:
    deployment = await refused_deployment(console)
    await sign_in(console)
    page = await (await console.get(f"/deployments/{deployment}")).text()
    assert '<ul id="checks">' in page
    assert '<li class="check passed">signature: verified by key ops-2025 (legacy .sig)</li>' in page
    assert (
        '<li class="check refused">platform: image has linux/arm64; 2 nodes are linux/amd64</li>'
        in page
    )
    explained = await (await console.get("/explain?repository=team/app")).text()
    assert f'<a href="/deployments/{deployment}">deployment {deployment}</a>' in explained
    assert "signature: verified by key ops-2025 (legacy .sig)" in explained

    answer = await (await console.get(f"/api/v1/deployments/{deployment}",
                                      headers=api_headers())).json()  # fmt: skip
    assert answer["status"] == "refused"
    assert [c["words"] for c in answer["checks"]] == [c.words for c in SAID]
