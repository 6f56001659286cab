"""Rollouts at decision time: the plans of a repository with a ``rollout:`` (or ``stages:``)
become a rollout (``receiver.store.rollouts.RolloutDraft``) whose first wave goes now and whose
later waves wait behind their gates; the targets of later stages are skipped, with why: they get
the digest by promotion (``receiver.decide.promotion``).

``RolloutShaper.shape`` is applied to every set of plans before it is judged and stored (a push,
the reconciler, a pin or a deploy asked through the API, a promotion), so that no path moves a
repository's targets at once when its configuration says waves. Rollbacks are not shaped: they
are the rollout's own (``receiver.decide.rollback``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Protocol

from deployers.base import Target
from receiver.decide.rules.release import span
from receiver.decide.rules.rollout import RolloutPlan, assign_waves, clock_span, wave_order
from receiver.store.records import Plan
from receiver.store.rollout_records import RolloutDraft


class WorkloadLabels(Protocol):
    """Where a configured target's own labels are read (the inventory)."""

    def workload(self, key: str) -> Target | None: ...


class RolloutShaper:
    def __init__(self, *, plans: Mapping[str, RolloutPlan], labels: WorkloadLabels | None) -> None:
        """``plans``: the rollout rules of each repository (by name) that has any."""
        self._plans = plans
        self._labels = labels

    def plan_of(self, repository: str | None) -> RolloutPlan | None:
        return self._plans.get(repository or "")

    def labels(self, target: Target) -> Mapping[str, str]:
        """A target's ``regdeploy.*`` labels (job meta), keyed without the prefix; a configured
        target's are read from the inventory."""
        if target.release or self._labels is None:
            return target.release
        found = self._labels.workload(target.key)
        return found.release if found is not None else target.release

    def stage_of(self, repository: str, target: Target) -> int | None:
        plan = self._plans[repository]
        return plan.stage_of(target.key, self.labels(target)) if plan.stages else 0

    def shape(
        self,
        plans: Sequence[Plan],
        *,
        stage: int = 0,
        promoted_from: int | None = None,
    ) -> tuple[list[Plan], list[RolloutDraft]]:
        """``plans`` with each intent of a repository with rollout rules placed: in a wave of a
        new rollout of ``stage`` (the first wave goes as decided; the later ones wait behind
        their gate); an intent for a later stage's target, or one no stage selects, is a skip
        with the reason (a later stage gets the digest by promotion)."""
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, plan in enumerate(plans):
            if plan.deploy and plan.trigger != "rollback" and self.plan_of(plan.repository_name):
                groups[(plan.repository_name or "", plan.image.digest or "")].append(i)
        shaped = list(plans)
        drafts: list[RolloutDraft] = []
        for (repository, _), indexes in groups.items():
            draft = self._shape_group(
                shaped, indexes, repository=repository, stage=stage, promoted_from=promoted_from
            )
            if draft is not None:
                drafts.append(draft)
        return shaped, drafts

    def _shape_group(
        self,
        shaped: list[Plan],
        indexes: list[int],
        *,
        repository: str,
        stage: int,
        promoted_from: int | None,
    ) -> RolloutDraft | None:
        rules = self._plans[repository]
        mine: list[int] = []
        later: list[tuple[int, int]] = []
        for i in indexes:
            plan = shaped[i]
            place = self.stage_of(repository, plan.target)
            if place is None:
                names = ", ".join(s.name for s in rules.stages)
                reason = f"not deployed: no stage of {repository} selects it (stages: {names})"
                shaped[i] = dataclasses.replace(plan, deploy=False, reason=reason)
            elif place == stage:
                mine.append(i)
            elif place > stage:
                later.append((i, place))
            else:
                shaped[i] = dataclasses.replace(
                    plan, deploy=False, reason=f"not deployed: in stage {rules.stages[place].name}"
                )
        draft = None
        if mine:
            draft = self._draft(shaped, mine, repository=repository, stage=stage,
                                promoted_from=promoted_from)  # fmt: skip
        for i, place in later:
            # Not now: the stage is promoted to once the one before has passed. A waiting deploy
            # here would supersede what that stage's own rollout has queued.
            reason = f"not deployed now: {_stage_gate(rules, place)}"
            shaped[i] = dataclasses.replace(shaped[i], deploy=False, reason=reason)
        return draft

    def _draft(
        self,
        shaped: list[Plan],
        mine: list[int],
        *,
        repository: str,
        stage: int,
        promoted_from: int | None,
    ) -> RolloutDraft:
        rules = self._plans[repository]
        policy = rules.policy
        by_key = {shaped[i].target.key: i for i in mine}
        order = sorted(
            by_key,
            key=lambda k: wave_order(
                k, shaped[by_key[k]].target.name, self.labels(shaped[by_key[k]].target)
            ),
        )
        waves = assign_waves(order, policy.waves)
        first = shaped[mine[0]]
        stage_name = rules.stages[stage].name if rules.stages else ""
        key = f"{repository}|{first.image.digest}|{stage_name}"
        notify: dict[str, None] = {}
        for i in mine:
            notify.update(dict.fromkeys(shaped[i].notify))
        for number, keys in enumerate(waves, start=1):
            for target_key in keys:
                i = by_key[target_key]
                gate = "" if number == 1 else wave_gate(number, len(waves), policy.soak)
                shaped[i] = dataclasses.replace(shaped[i], rollout=key, gate=gate, notify=())
        counts = " + ".join(str(len(w)) for w in waves)
        where = f" to {stage_name}" if stage_name else ""
        return RolloutDraft(
            key=key,
            repository_name=repository,
            stage=stage_name,
            image=first.image,
            policy=policy,
            waves=tuple(waves),
            words=f"rolling out{where} in {len(waves)} wave{'s' if len(waves) != 1 else ''} "
            f"({counts} targets): wave 1 deploying",
            notify=tuple(notify),
            event_id=first.event_id,
            trigger=first.trigger,
            promoted_from=promoted_from,
            forced_by=first.forced_by,
        )


def wave_gate(number: int, count: int, soak: timedelta) -> str:
    """``wave 2 of 3: starts when wave 1 has been healthy for 5 min`` (without a soak: ``when
    wave 1 is healthy``)."""
    when = f"has been healthy for {clock_span(soak)}" if soak else "is healthy"
    return f"wave {number} of {count}: starts when wave {number - 1} {when}"


def _stage_gate(rules: RolloutPlan, place: int) -> str:
    stage, before = rules.stages[place], rules.stages[place - 1]
    soak = stage.promote.soak
    healthy = f" healthy for {span(soak)}" if soak else ""
    approvals = stage.promote.approvals
    asked = f", with {approvals} approval{'s' if approvals != 1 else ''}" if approvals else ""
    return f"stage {stage.name} gets it once {before.name} has run it{healthy}{asked}"
