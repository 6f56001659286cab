"""Trust checks end to end: a real docker-registry holding images and the signatures cosign's
formats put beside them, real PostgreSQL, the real app and worker, the recording deployer (whose
nodes are linux/amd64), a Harbor API fake for scan results and a Slack capture for notices.

The registry does not notify here: each test pushes, signs, and then posts the push notification
itself, as the registry would, so that a signature is in place before the push is decided (a
signature that arrives later is the subject of its own test).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.serialization import Encoding

from deployers.base import DeployResult
from tests.support.chat_capture import ChatCapture
from tests.support.cosign_signer import (
    Signer,
    Subject,
    bundle,
    legacy_layer,
    push_bundles,
    push_legacy,
)
from tests.support.harbor_fake import ROBOT, ROBOT_SECRET, FakeHarbor, vulnerabilities
from tests.support.metrics import count
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, build_image, build_index
from tests.support.polling import until
from tests.support.settings import HARBOR_TOKEN
from tests.support.sigstore_pki import LocalFulcio, LocalRekor, SigningKey, ecdsa_key
from tests.support.stack import REPO, WEB, Stack, StackFactory

_ids = itertools.count(1)
OPS_2025 = ecdsa_key("ops-2025")
OPS_2026 = ecdsa_key("ops-2026")
OTHER = ecdsa_key("someone-else")
ACTIONS = "https://token.actions.githubusercontent.com"


def keys(*listed: SigningKey) -> dict[str, Any]:
    return {
        "signatures": {"keys": [{"name": k.name, "key": k.public_pem.decode()} for k in listed]}
    }


async def push(s: Stack, tag: str, *, arch: str = "amd64", platforms: tuple[str, ...] = ()) -> str:
    """Push ``tag`` (an index over ``platforms`` when given) without a notification."""
    if platforms:
        digest = build_index(s.layout, tag=tag, platforms=platforms, env={"VERSION": tag})
    else:
        digest = build_image(s.layout, tag=tag, env={"VERSION": tag}, arch=arch)
    await asyncio.to_thread(s.registry.push, s.layout, tag, REPO)
    return digest


async def running(s: Stack) -> Stack:
    """``s`` whose target runs 1.0.0 (pushed, never announced): patch releases move it."""
    first = await push(s, "1.0.0")
    s.deployer.run(WEB, s.ref("1.0.0", first))
    return s


async def started(stack: StackFactory, **options: Any) -> Stack:
    return await running(await stack(**options))


async def announce(s: Stack, tag: str, digest: str, *, index: bool = False) -> None:
    """The push notification the registry would have sent for ``tag``."""
    await s.notify(
        {
            "id": f"trust-{next(_ids)}",
            "timestamp": "2030-01-01T00:00:00Z",
            "action": "push",
            "target": {
                "mediaType": OCI_INDEX if index else OCI_MANIFEST,
                "digest": digest,
                "repository": REPO,
                "tag": tag,
            },
        }
    )


def sign_legacy(s: Stack, digest: str, *keys_: SigningKey, **annotations: str) -> None:
    layers = [
        legacy_layer(Signer.with_key(k), digest, annotations=annotations or None) for k in keys_
    ]
    push_legacy(s.registry, REPO, digest, layers)


def sign_bundle(s: Stack, digest: str, key: SigningKey) -> None:
    media_type, body = s.registry.raw_manifest(REPO, digest)
    subject = Subject(digest=digest, media_type=media_type, size=len(body))
    push_bundles(s.registry, REPO, subject, [bundle(Signer.with_key(key), digest)])


async def deployment(s: Stack, tag: str, *, ended: bool = True) -> dict[str, Any]:
    """The deployment of ``tag`` once it ended (or waits, with ``ended`` false)."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        for d in await s.deployments():
            if d["tag"] == tag and (d["status"] not in ("planned", "running") or not ended):
                if ended and d["status"] == "waiting":
                    continue
                found.update(d)
                return True
        return False

    await s.wait_until(f"the deployment of {tag}", done)
    return found


async def test_a_signed_image_deploys_and_what_is_not_signed_by_a_listed_key_is_refused(
    stack: StackFactory,
) -> None:
    async with ChatCapture("slack") as chat:
        s = await started(
            stack,
            notify=False,
            policy="patch",
            trust=keys(OPS_2025, OPS_2026),
            notices_to=("chat",),
            sections={
                "notifiers": [{"name": "chat", "type": "slack", "url": chat.url}],
                "notices": {"group_seconds": 0.1, "poll_seconds": 0.2},
            },
        )
        signed = await push(s, "1.0.1")
        sign_legacy(s, signed, OPS_2025)
        await announce(s, "1.0.1", signed)
        assert (await deployment(s, "1.0.1"))["status"] == "succeeded"

        other = await push(s, "1.0.2")
        sign_legacy(s, other, OTHER)
        await announce(s, "1.0.2", other)
        refused = await deployment(s, "1.0.2")
        unsigned = await push(s, "1.0.3")
        await announce(s, "1.0.3", unsigned)
        bare = await deployment(s, "1.0.3")

        assert s.deployer.deployed(WEB) == [s.ref("1.0.1", signed)]
        assert refused["status"] == "refused"
        assert refused["message"].startswith("signature: ")
        assert "not by a listed key (keys ops-2025, ops-2026)" in refused["message"]
        assert [c["reason"] for c in refused["checks"]] == ["unknown_key"]
        assert bare["status"] == "refused"
        assert [c["reason"] for c in bare["checks"]] == ["unsigned"]
        passed = await s.api("GET", f"/api/v1/deployments/{(await deployment(s, '1.0.1'))['id']}")
        assert passed["checks"][0] == {
            "check": "signature",
            "outcome": "passed",
            "words": "verified by key ops-2025 (legacy .sig)",
            "reason": "",
        }

        async def noticed() -> bool:
            said = " ".join(str(body) for body in chat.received)
            return "1.0.2" in said and "1.0.3" in said and "refused" in said

        await until("both refusals are noticed", noticed, seconds=20)
        scraped = await s.metrics()
        refusals = "regdeploy_trust_refusals_total"
        assert count(scraped, refusals, check="signature", reason="unsigned") == 1
        assert count(scraped, refusals, check="signature", reason="unknown_key") == 1


async def test_the_bundle_format_and_rotated_keys_are_read(stack: StackFactory) -> None:
    s = await started(stack, notify=False, policy="patch", trust=keys(OPS_2026))
    new = await push(s, "1.0.1")
    sign_bundle(s, new, OPS_2026)
    await announce(s, "1.0.1", new)
    checked = await deployment(s, "1.0.1")
    assert checked["status"] == "succeeded", checked
    assert checked["checks"][0]["words"] == "verified by key ops-2026 (sigstore bundle)"

    old_only = await push(s, "1.0.2")
    sign_legacy(s, old_only, OPS_2025)  # ops-2025 was removed from the list
    await announce(s, "1.0.2", old_only)
    assert (await deployment(s, "1.0.2"))["status"] == "refused"
    assert s.deployer.deployed(WEB) == [s.ref("1.0.1", new)]

    entry = await s.api("GET", f"/api/v1/repos/{REPO}")  # what the registry holds, checked
    by_tag = {t["tag"]: t for t in entry["tags"]}
    assert list(by_tag) == ["1.0.2", "1.0.1"]
    assert by_tag["1.0.1"]["platforms"] == ["linux/amd64"]
    assert by_tag["1.0.1"]["signature"]["words"] == "verified by key ops-2026 (sigstore bundle)"
    assert by_tag["1.0.2"]["signature"]["outcome"] == "refused"
    assert by_tag["1.0.2"]["scan"] is None and by_tag["1.0.2"]["unknown"] is None


async def test_a_signature_with_another_annotation_is_refused(stack: StackFactory) -> None:
    trust = keys(OPS_2025)
    trust["signatures"]["annotations"] = {"env": "prod"}
    s = await started(stack, notify=False, policy="patch", trust=trust)
    staging = await push(s, "1.0.1")
    sign_legacy(s, staging, OPS_2025, env="staging")
    await announce(s, "1.0.1", staging)
    prod = await push(s, "1.0.2")
    sign_legacy(s, prod, OPS_2025, env="prod")
    await announce(s, "1.0.2", prod)

    assert (await deployment(s, "1.0.1"))["checks"][0]["reason"] == "annotation"
    assert (await deployment(s, "1.0.2"))["status"] == "succeeded"
    assert s.deployer.deployed(WEB) == [s.ref("1.0.2", prod)]


async def test_an_image_that_does_not_cover_the_nodes_is_refused_with_the_gap(
    stack: StackFactory,
) -> None:
    s = await started(stack, notify=False, policy="patch")  # platforms: auto, by default
    s.deployer.node_platforms = {"linux/amd64": 2, "linux/arm64": 1}
    arm_only = await push(s, "1.0.1", arch="arm64")
    await announce(s, "1.0.1", arm_only)
    both = await push(s, "1.0.2", platforms=("amd64", "arm64"))
    await announce(s, "1.0.2", both, index=True)

    gap = await deployment(s, "1.0.1")
    assert gap["status"] == "refused"
    assert gap["message"] == "platform: image has linux/arm64; 2 nodes are linux/amd64"
    covered = await deployment(s, "1.0.2")
    assert covered["status"] == "succeeded"
    assert covered["checks"] == [
        {
            "check": "platform",
            "outcome": "passed",
            "words": "covers linux/amd64, linux/arm64",
            "reason": "",
        }
    ]
    assert s.deployer.deployed(WEB) == [s.ref("1.0.2", both)]
    explained = await s.api("GET", f"/api/v1/repos/{REPO}/explain")
    [target] = explained["targets"]
    assert target["checks"]["deployment"] == covered["id"]


# -- scan results (Harbor) ----------------------------------------------------------------------


@pytest.fixture
async def harbor() -> AsyncIterator[tuple[FakeHarbor, str]]:
    fake = FakeHarbor()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, f"http://127.0.0.1:{server.port}"
    await server.close()


def scanning(url: str, **scan: Any) -> dict[str, Any]:
    return {"harbor": {"url": url, "username": ROBOT, "password": ROBOT_SECRET},
            "trust": {"platforms": "off", "scan": {"max_severity": "high", **scan}}}  # fmt: skip


async def scan_event(s: Stack, fake: FakeHarbor, digest: str, *, overview: bool) -> None:
    headers, body = fake.scan_webhook(REPO, digest, overview=overview)
    async with s.session.post(
        s.base_url + "/webhooks/harbor",
        data=body,
        headers={**headers, "Authorization": HARBOR_TOKEN},
    ) as answer:
        assert answer.status == 202, await answer.text()


async def stack_scanned(stack: StackFactory, url: str, **scan: Any) -> Stack:
    found = scanning(url, **scan)
    retries = {"poll_interval_seconds": 0.2, "retry_base_seconds": 0.2, "retry_max_seconds": 0.5,
               "max_attempts": 2}  # fmt: skip
    return await started(
        stack,
        notify=False,
        policy="patch",
        harbor=found["harbor"],
        trust=found["trust"],
        sections={"worker": retries},
    )


async def test_an_unscanned_image_waits_for_its_scan_and_deploys_once_it_passes(
    stack: StackFactory, harbor: tuple[FakeHarbor, str]
) -> None:
    fake, url = harbor
    s = await stack_scanned(stack, url)
    digest = await push(s, "1.0.1")
    fake.push(REPO, digest)
    await announce(s, "1.0.1", digest)
    waiting = await deployment(s, "1.0.1", ended=False)
    assert waiting["status"] == "waiting"
    assert waiting["wait"].startswith("awaiting scan")
    assert [w["kind"] for w in waiting["waits"]] == ["scan"]

    fake.scanned(REPO, digest, vulnerabilities(high=1, medium=3))
    await scan_event(s, fake, digest, overview=False)  # harbor#21005: no overview in the event
    done = await deployment(s, "1.0.1")
    assert done["status"] == "succeeded", done
    assert done["checks"][-1]["words"] == "no findings above high (1 high, 3 medium)"
    assert s.deployer.deployed(WEB) == [s.ref("1.0.1", digest)]


async def test_an_image_above_the_threshold_is_refused_with_the_counts(
    stack: StackFactory, harbor: tuple[FakeHarbor, str]
) -> None:
    fake, url = harbor
    s = await stack_scanned(stack, url)
    digest = await push(s, "1.0.1")
    fake.scanned(REPO, digest, vulnerabilities(critical=2, high=5))
    await announce(s, "1.0.1", digest)
    refused = await deployment(s, "1.0.1")
    assert refused["status"] == "refused"
    assert refused["message"] == "scan: 2 critical, 5 high; max high"
    assert s.deployer.calls == []


async def test_an_image_never_scanned_is_refused_after_the_wait(
    stack: StackFactory, harbor: tuple[FakeHarbor, str]
) -> None:
    fake, url = harbor
    s = await stack_scanned(stack, url, wait="2s")
    digest = await push(s, "1.0.1")
    fake.push(REPO, digest)
    await announce(s, "1.0.1", digest)
    refused = await deployment(s, "1.0.1")
    assert refused["status"] == "refused"
    assert refused["message"] == "scan: not scanned within 2 s"
    assert s.deployer.calls == []


async def test_harbor_away_holds_the_deploy_and_never_refuses_it_for_that(
    stack: StackFactory, harbor: tuple[FakeHarbor, str]
) -> None:
    fake, url = harbor
    s = await stack_scanned(stack, url, wait="1s")
    digest = await push(s, "1.0.1")
    fake.scanned(REPO, digest, vulnerabilities())
    fake.down = 503
    await announce(s, "1.0.1", digest)

    async def retried() -> bool:
        found = [d for d in await s.deployments() if d["tag"] == "1.0.1"]
        return bool(found) and "scan not checked yet" in (found[0]["message"] or "")

    await s.wait_until("the deploy waits for Harbor", retried)

    async def tried_past_the_wait() -> bool:  # scan.wait is 1 s: Harbor away never refuses
        [d] = [d for d in await s.deployments() if d["tag"] == "1.0.1"]  # seen above
        assert d["status"] != "refused", d
        return int(d["attempts"]) >= 3

    await s.wait_until("three attempts while Harbor is away", tried_past_the_wait)
    fake.down = None
    assert (await deployment(s, "1.0.1"))["status"] == "succeeded"
    assert s.deployer.deployed(WEB) == [s.ref("1.0.1", digest)]


async def test_a_signature_made_after_the_push_lets_the_refused_deploy_go(
    stack: StackFactory,
) -> None:
    # The registry notifies: the push is decided before cosign signs, as in a pipeline that
    # pushes, then signs; the signature's own push (its .sig tag) decides the tag again.
    s = await started(stack, policy="patch", trust=keys(OPS_2025))
    digest = await push(s, "1.0.1")
    refused = await deployment(s, "1.0.1")
    assert refused["status"] == "refused"
    assert [c["reason"] for c in refused["checks"]] == ["unsigned"]

    sign_legacy(s, digest, OPS_2025)

    async def deployed() -> bool:
        return s.deployer.deployed(WEB) == [s.ref("1.0.1", digest)]

    await s.wait_until("the signed image deployed", deployed)
    statuses = {d["id"]: d["status"] for d in await s.deployments() if d["tag"] == "1.0.1"}
    assert sorted(statuses.values()) == ["refused", "succeeded"]
    sig_tag = digest.replace(":", "-") + ".sig"
    assert not [
        d for d in await s.deployments() if d["tag"] == sig_tag and d["status"] != "skipped"
    ]


async def test_a_long_wait_for_a_scan_leaves_the_deploy_its_retries(
    stack: StackFactory, harbor: tuple[FakeHarbor, str]
) -> None:
    fake, url = harbor
    s = await stack_scanned(stack, url, wait="30s")  # looked at again every 3 s
    digest = await push(s, "1.0.1")
    fake.push(REPO, digest)
    s.deployer.scripted = [DeployResult.failed("the orchestrator hiccupped", retry=True)]
    await announce(s, "1.0.1", digest)

    async def held_again() -> bool:
        found = [d for d in await s.deployments() if d["tag"] == "1.0.1"]
        return bool(found) and int(found[0]["attempts"]) >= 3  # held 3 times; max_attempts 2

    await s.wait_until("three looks at the scan", held_again)
    fake.scanned(REPO, digest, vulnerabilities())
    await scan_event(s, fake, digest, overview=True)
    done = await deployment(s, "1.0.1")
    assert done["status"] == "succeeded", done  # the failed deploy was tried again
    assert len(s.deployer.calls) == 2


async def test_an_image_signed_within_the_wait_deploys_without_a_notification_of_it(
    stack: StackFactory,
) -> None:
    trust = keys(OPS_2025)
    trust["signatures"]["wait"] = "20s"  # looked at again every 2 s
    s = await started(stack, notify=False, policy="patch", trust=trust)
    digest = await push(s, "1.0.1")
    await announce(s, "1.0.1", digest)
    waiting = await deployment(s, "1.0.1", ended=False)
    assert waiting["status"] == "waiting", waiting
    assert waiting["wait"].startswith("awaiting a signature (waited ")
    assert [w["kind"] for w in waiting["waits"]] == ["signature"]

    sign_bundle(s, digest, OPS_2025)  # no notification: the next look finds it
    done = await deployment(s, "1.0.1")
    assert done["status"] == "succeeded", done
    assert s.deployer.deployed(WEB) == [s.ref("1.0.1", digest)]


async def test_keyless_signatures_chain_to_the_configured_roots_with_a_listed_identity(
    stack: StackFactory, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    fulcio, rekor = LocalFulcio.create(at=now - timedelta(days=1)), LocalRekor()
    chain = tmp_path / "fulcio-chain.pem"
    chain.write_bytes(
        b"".join(c.public_bytes(Encoding.PEM) for c in (fulcio.intermediate, fulcio.root))
    )
    rekor_pub = tmp_path / "rekor.pub"
    rekor_pub.write_bytes(rekor.key.public_pem)
    workflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
    trust = {
        "signatures": {
            "identities": [{"issuer": ACTIONS, "subject": "regexp:^https://github.com/acme/app/"}],
            "roots": {"fulcio": [str(chain)], "rekor": [str(rekor_pub)]},
        }
    }
    s = await started(stack, notify=False, policy="patch", trust=trust)
    at = now - timedelta(hours=1)

    def keyless(fulcio_: LocalFulcio, subject: str) -> Signer:
        return Signer.keyless(fulcio_, rekor, subject=subject, issuer=ACTIONS, at=at)

    cases = {
        "1.0.1": keyless(
            fulcio, "https://github.com/evil/app/.github/workflows/r.yml@refs/heads/x"
        ),
        "1.0.2": keyless(LocalFulcio.create("elsewhere", at=at - timedelta(days=1)), workflow),
        "1.0.3": keyless(fulcio, workflow),
    }
    for tag, signer in cases.items():
        digest = await push(s, tag)
        push_legacy(s.registry, REPO, digest, [legacy_layer(signer, digest)])
        await announce(s, tag, digest)
        await deployment(s, tag)
    reasons = {d["tag"]: [c["reason"] for c in d["checks"]] for d in await s.deployments()}
    assert reasons == {"1.0.1": ["identity"], "1.0.2": ["untrusted_certificate"], "1.0.3": ["", ""]}
    [done] = [d for d in await s.deployments() if d["tag"] == "1.0.3"]
    assert done["status"] == "succeeded"
    assert (
        done["checks"][0]["words"]
        == f"verified keyless: {workflow} (issuer {ACTIONS}, legacy .sig)"
    )
