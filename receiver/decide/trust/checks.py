"""The trust checks a digest passes just before it is deployed, on every path that deploys (a
push, the reconciler, a pin, a manual deploy, a released wait): they run in the dispatcher, on
the exact digest the deploy will use, after the registry confirmed it.

In order: ``signature`` (cosign: ``receiver.decide.trust.signatures``), ``platform`` (the image
covers every node the target can be placed on: ``receiver.decide.trust.platforms``) and ``scan``
(Harbor's results: ``receiver.decide.trust.scan``); the first refusal ends the checking. A scan
not finished yet holds the deploy back (``TrustVerdict.hold_until``) until it is due to be looked
at again or Harbor says the scan ended, and past ``scan.wait`` refuses it. A check that cannot
conclude (the registry, Harbor or the orchestrator away) raises: the deploy is tried again,
never deployed unchecked and never refused for that alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from deployers.base import Deployers, Target
from handlers.references import ImageRef
from receiver.clock import Clock
from receiver.decide.rules.release import span
from receiver.decide.trust.platforms import (
    config_platform,
    index_platforms,
    judge_platforms,
    judge_required,
)
from receiver.decide.trust.policy import (
    Check,
    CheckOutcome,
    CheckResult,
    PlatformPolicy,
    ScanPolicy,
    TrustPolicy,
)
from receiver.decide.trust.scan import judge_scan, needs_findings
from receiver.decide.trust.signatures import OciReader, verify_signatures
from receiver.errors import (
    DeployerUnavailable,
    RegistryError,
    RegistryUnavailable,
    TrustUnavailable,
)
from receiver.registry.harbor import HarborClient, split_full_name

#: How often a deploy held for a scan looks again when no webhook says the scan ended: a tenth
#: of its ``scan.wait``, between these bounds.
RECHECK_BOUNDS = (timedelta(seconds=1), timedelta(seconds=60))
log = structlog.get_logger("regdeploy.trust")

#: How many tags (newest first) the repository page surveys, how long each may take, how long
#: what it found is kept, and for how many digests.
SURVEY_TAGS = 10
SURVEY_SECONDS = 5.0
SURVEY_KEPT = timedelta(seconds=60)
SURVEY_CACHE = 500
#: The most an image config blob may weigh.
CONFIG_BYTES = 1 << 20
_INDEXES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustVerdict:
    """What the checks say of one digest for one target; ``hold_until``: a check holds it
    back until then."""

    results: tuple[CheckResult, ...]
    hold_until: datetime | None = None

    @property
    def refusal(self) -> CheckResult | None:
        return next((r for r in self.results if r.outcome is CheckOutcome.REFUSED), None)

    @property
    def words(self) -> str:
        """The refusal's words with its check (``signature: unsigned …``), or the wait's as
        release control shows a wait (``awaiting scan (waited 2 min of 15 min)``)."""
        if (refusal := self.refusal) is not None:
            return refusal.line
        waiting = [r.words for r in self.results if r.outcome is CheckOutcome.WAITING]
        return "; ".join(waiting) or "; ".join(r.line for r in self.results)


@dataclass(frozen=True, slots=True, kw_only=True)
class TagTrust:
    """What the registry holds for one tag, as the trust checks see it before anything deploys:
    its digest's platforms and what the signature and scan checks say (``None``: the check is
    off for the repository); ``unknown``: why it could not be found out now."""

    tag: str
    digest: str
    platforms: tuple[str, ...] = ()
    signature: CheckResult | None = None
    scan: CheckResult | None = None
    unknown: str = ""


class TrustChecks:
    def __init__(
        self,
        *,
        policies: Mapping[str, TrustPolicy],
        fallback: TrustPolicy,
        oci: OciReader,
        harbors: Mapping[str, HarborClient],
        deployers: Deployers,
        reads_registry: Callable[[str], bool],
        canonical: Callable[[str], str],
        clock: Clock,
    ) -> None:
        """``policies`` by watched repository name (``fallback`` for any other deploy);
        ``harbors`` by canonical registry host; ``reads_registry(host)``: whether regdeploy
        asks that registry anything (false where a source turned digest confirmation off)."""
        self._policies = policies
        self._fallback = fallback
        self._oci = oci
        self._harbors = harbors
        self._deployers = deployers
        self._reads_registry = reads_registry
        self._canonical = canonical
        self._clock = clock
        # The repository page's survey, by (repository, digest): (kept until, what it found).
        self._surveyed: dict[tuple[str, str], tuple[datetime, TagTrust]] = {}

    def policy(self, repository: str | None) -> TrustPolicy:
        return self._policies.get(repository or "", self._fallback)

    async def judge(
        self,
        *,
        target: Target,
        image: ImageRef,
        repository: str | None,
        held_since: datetime | None,
    ) -> TrustVerdict:
        """Run the checks ``repository``'s trust asks for on ``image`` (its digest) for
        ``target``. Raises ``TrustUnavailable`` when one cannot conclude now."""
        policy = self.policy(repository)
        results: list[CheckResult] = []
        if not self._reads_registry(image.name.registry):
            # regdeploy reads nothing from this registry (``confirm_digests: false``): the
            # configuration refuses a watched repository's checks for it but the platform
            # check by default; what ``defaults.trust`` asks of another image is refused.
            return TrustVerdict(results=_unread(policy, image))
        steps: list[tuple[Check, Callable[[], Awaitable[CheckResult]]]] = []
        if policy.signatures is not None:
            steps.append((Check.SIGNATURE, lambda: self._signature(image, policy)))
        if policy.platforms is not None:
            steps.append((Check.PLATFORM, lambda: self._platform(target, image, policy)))
        for check, run in steps:
            result = await _unless_away(check, run())
            if (waiting := self._for_signature(result, policy, held_since)) is not None:
                return TrustVerdict(results=(*results, waiting[0]), hold_until=waiting[1])
            results.append(result)
            if result.outcome is CheckOutcome.REFUSED:
                return TrustVerdict(results=tuple(results))
        if policy.scan is None:
            return TrustVerdict(results=tuple(results))
        scan = await _unless_away(Check.SCAN, self._scan(image, policy.scan, held_since))
        results.append(scan)
        if scan.outcome is not CheckOutcome.WAITING:
            return TrustVerdict(results=tuple(results))
        until = self._hold_until(policy.scan.wait, held_since)
        return TrustVerdict(results=tuple(results), hold_until=until)

    def _for_signature(
        self, result: CheckResult, policy: TrustPolicy, held_since: datetime | None
    ) -> tuple[CheckResult, datetime] | None:
        """An image with no signature at all, within ``signatures.wait``: the wait's words
        and when to look again (cosign signs after the push); else None."""
        if result.reason != "unsigned" or policy.signatures is None:
            return None
        now, wait = self._clock.now(), policy.signatures.wait
        waited = now - (held_since or now)
        if waited >= wait:
            return None
        words = f"awaiting a signature (waited {span(waited)} of {span(wait)})"
        waiting = CheckResult(check=Check.SIGNATURE, outcome=CheckOutcome.WAITING, words=words)
        return waiting, self._hold_until(wait, held_since)

    def _hold_until(self, wait: timedelta, held_since: datetime | None) -> datetime:
        """When a deploy held since ``held_since`` (or now) for at most ``wait`` is looked at
        again: after a tenth of ``wait`` (within ``RECHECK_BOUNDS``), at its end at the latest."""
        now = self._clock.now()
        low, high = RECHECK_BOUNDS
        recheck = min(max(wait / 10, low), high)
        return max(min(now + recheck, (held_since or now) + wait), now)

    async def survey(
        self, repository: str, images: Sequence[ImageRef], *, limit: int = SURVEY_TAGS
    ) -> list[TagTrust]:
        """What the first ``limit`` of ``images`` (tags with their digests) are, as the checks
        of ``repository`` see them now; each read within ``SURVEY_SECONDS`` and remembered for
        ``SURVEY_KEPT`` by digest."""
        policy = self.policy(repository)
        looks = (self._surveyed_one(repository, image, policy) for image in images[:limit])
        return list(await asyncio.gather(*looks))

    async def _surveyed_one(
        self, repository: str, image: ImageRef, policy: TrustPolicy
    ) -> TagTrust:
        tag, digest = image.tag or "", image.digest or ""
        if not digest or not self._reads_registry(image.name.registry):
            why = "not read: digests of this registry are not confirmed"
            return TagTrust(tag=tag, digest=digest, unknown=why)
        key, now = (repository, digest), self._clock.now()
        kept = self._surveyed.get(key)
        if kept is None or kept[0] <= now:
            kept = (now + SURVEY_KEPT, await self._survey_one(image, policy))
            self._surveyed[key] = kept
            if len(self._surveyed) > SURVEY_CACHE:
                self._surveyed.pop(next(iter(self._surveyed)))
        return dataclasses.replace(kept[1], tag=tag)

    async def _survey_one(self, image: ImageRef, policy: TrustPolicy) -> TagTrust:
        tag, digest = image.tag or "", image.digest or ""
        try:
            async with asyncio.timeout(SURVEY_SECONDS):
                platforms = tuple(sorted(await self.image_platforms(image)))
                signature = None
                if policy.signatures is not None:
                    signature = await self._signature(image, policy)
                scan = None
                if policy.scan is not None:
                    scan = await self._scan(image, policy.scan, None)
        except (RegistryError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {SURVEY_SECONDS:g} s"
            return TagTrust(tag=tag, digest=digest, unknown=why)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            why = f"what the registry serves cannot be read ({type(exc).__name__})"
            return TagTrust(tag=tag, digest=digest, unknown=why)
        return TagTrust(tag=tag, digest=digest, platforms=platforms, signature=signature, scan=scan)

    async def _signature(self, image: ImageRef, policy: TrustPolicy) -> CheckResult:
        assert policy.signatures is not None and image.digest is not None
        return await verify_signatures(
            self._oci,
            registry=image.name.registry,
            repository=image.name.repository,
            digest=image.digest,
            policy=policy.signatures,
            now=self._clock.now(),
        )

    async def _platform(self, target: Target, image: ImageRef, policy: TrustPolicy) -> CheckResult:
        wanted: PlatformPolicy | None = policy.platforms
        assert wanted is not None
        covered = await self.image_platforms(image)
        if not wanted.auto:
            return judge_required(covered, wanted.required)
        deployer = self._deployers.get(target.kind)
        if deployer is None:
            return CheckResult(check=Check.PLATFORM, outcome=CheckOutcome.PASSED,
                               words="not checked: no deployer for the target")  # fmt: skip
        try:
            nodes = await deployer.platforms(target)
        except DeployerUnavailable as exc:
            raise TrustUnavailable(
                Check.PLATFORM.value, f"nodes of {target.key} unknown: {exc}"
            ) from exc
        if not any(nodes.values()):
            # None ready now (a restart), or no such workload any more: asked again up to the
            # attempts, never a deploy unchecked and never a refusal for that alone.
            raise RegistryError(f"no ready node can run {target.key} now: platforms unknown")
        return judge_platforms(covered, nodes)

    async def image_platforms(self, image: ImageRef) -> frozenset[str]:
        """The platforms ``image`` (its digest) runs on: its index's entries, or its config's."""
        name, digest = image.name, image.digest or ""
        found = await self._oci.manifest(name.registry, name.repository, digest)
        if found is None:
            raise RegistryError(f"the registry no longer serves {digest}")
        document = _object(found.body)
        if found.media_type in _INDEXES or "manifests" in document:
            return index_platforms(document)
        config = document.get("config")
        config_digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(config_digest, str):
            raise RegistryError(f"manifest {digest} names no config")
        blob = await self._oci.blob(
            name.registry, name.repository, config_digest, max_bytes=CONFIG_BYTES
        )
        return frozenset({config_platform(_object(blob))})

    async def _scan(
        self, image: ImageRef, policy: ScanPolicy, held_since: datetime | None
    ) -> CheckResult:
        harbor = self._harbors.get(self._canonical(image.name.registry))
        if harbor is None:  # the configuration forbids it; never a deploy unchecked
            raise RegistryError(f"no Harbor API configured for {image.name.registry}")
        project, repository = split_full_name(image.name.repository)
        digest = image.digest or ""
        scan = await harbor.scan(project=project, repository=repository, digest=digest)
        findings = None
        if needs_findings(scan, policy, today=self._clock.now().date()):
            findings = await harbor.vulnerabilities(
                project=project, repository=repository, digest=digest
            )
        now = self._clock.now()
        return judge_scan(
            scan, policy, findings=findings, today=now.date(), waited=now - (held_since or now)
        )


async def _unless_away(check: Check, running: Awaitable[CheckResult]) -> CheckResult:
    """``running``'s result; a registry, Harbor or orchestrator that cannot answer now is a
    ``TrustUnavailable`` naming the check. What a registry serves under a digest does not
    change: an answer of a shape no reader expects is a refusal (``unreadable``), not a crash
    to try again."""
    try:
        return await running
    except TrustUnavailable:
        raise
    except RegistryUnavailable as exc:
        raise TrustUnavailable(check.value, str(exc)) from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        log.warning("trust_answer_unreadable", check=check.value, error=repr(exc))
        words = f"what the registry serves cannot be read ({type(exc).__name__})"
        return CheckResult(
            check=check, outcome=CheckOutcome.REFUSED, words=words, reason="unreadable"
        )


def _unread(policy: TrustPolicy, image: ImageRef) -> tuple[CheckResult, ...]:
    """What the checks say of an image of a registry regdeploy does not read: nothing for the
    platform check by default; a refusal of the first check asked for besides."""
    explicit = policy.platforms is not None and not policy.platforms.auto
    asked = [(policy.signatures is not None, Check.SIGNATURE), (explicit, Check.PLATFORM),
             (policy.scan is not None, Check.SCAN)]  # fmt: skip
    check = next((c for wanted, c in asked if wanted), None)
    if check is None:
        return ()
    words = f"cannot be checked: {image.name.registry} is not read (confirm_digests: false)"
    return (CheckResult(check=check, outcome=CheckOutcome.REFUSED, words=words, reason="unread"),)


def _object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise RegistryError("the registry served a manifest that is not JSON") from exc
    if not isinstance(document, dict):
        raise RegistryError("the registry served a manifest that is not a JSON object")
    return document
