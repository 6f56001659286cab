"""The console's tables in a real browser, at a desktop's and a tablet's width: with reasons of
hundreds of characters (a failed deploy's message, a regexp policy, a freeze, an unwatched
repository of a long name, a notification of many unusable records), the reason cell of each
page shows on screen and no page scrolls sideways.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from deployers.base import DeployResult
from tests.support.browser import (
    REPOSITORY,
    VIEWPORT,
    offscreen,
    save_screenshot,
    scrolls_sideways,
    sign_in,
)
from tests.support.console import Console
from tests.support.pushes import push_body
from tests.support.settings import REGISTRY_TOKEN, api_headers

#: Widths a person reads the console at: a laptop, and a tablet upright (or half a screen).
WIDTHS = (1280, 800)

LONG_MESSAGE = (
    "service recording_api update failed: task 7f3c2a1b9d0e rejected by node worker-3: "
    "no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient memory "
    "on 2 nodes; 1 node is draining), the previous spec was restored and the service runs "
    "its earlier image; see docker service ps recording_api for the tasks and their errors"
)
LONG_POLICY = (
    "regexp:^(?:1\\.5\\.[0-9]+|"
    + "|".join(f"hotfix-{n}-for-the-payments-incident" for n in range(40, 48))
    + ")$"
)
LONG_FREEZE = (
    "incident 42: the payment gateway answers 502 for one request in ten since this morning's "
    "certificate rotation; hold every deploy of team/app until the payments on-call engineer "
    "has confirmed that the error rate is back under its usual level and the release train's "
    "change window has opened again (ask in #payments-incidents before unfreezing)"
)
# 240 characters (a repository's name may have 255): a reason of more than a list shows.
LONG_REPOSITORY = "team/" + "-".join(
    ["billing", "ledger", "reconciliation", "nightly", "export"] * 5 + ["archive", "eu"]
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Seeded:
    """The ids of what ``seed_long_reasons`` made."""

    failed: int  # a deployment that failed with LONG_MESSAGE
    frozen: int  # a deployment with the LONG_POLICY reason that waits for LONG_FREEZE
    event: int  # the push of LONG_REPOSITORY, which nothing watches
    rejection: int  # a notification of records without digest or time


def post(console: Console, path: str, body: dict[str, str]) -> None:
    answer = requests.post(console.url + path, json=body, headers=api_headers(), timeout=10)
    assert answer.status_code == 200, answer.text


def notify(console: Console, body: bytes) -> None:
    answer = requests.post(
        f"{console.url}/webhooks/registry",
        data=body,
        headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def unusable_notification(records: int) -> bytes:
    """Pushes without a digest or a time: each a problem, all of them one long reason."""
    event = {"action": "push", "target": {"repository": "team/app", "tag": "1.6.0"}}
    events = [{**event, "id": f"unusable-{n}"} for n in range(records)]
    return json.dumps({"events": events}).encode()


def seed_long_reasons(console: Console) -> Seeded:
    """A failed pin, a freeze lifted and one on, a long regexp policy and a push it deploys
    (waiting for the freeze), an unwatched push and a rejected notification."""
    failure = DeployResult.failed(LONG_MESSAGE, retry=False)
    console.deployer.scripted = [failure, failure]
    console.change({"pinned_tag": "1.4.0"})
    failed = [d for d in console.settle() if d["status"] == "failed"]
    console.change({"pinned_tag": "", "auto_deploy": False})
    console.change({"auto_deploy": True, "policy": LONG_POLICY})
    post(console, "/api/v1/freeze", {"repository": "team/app", "reason": "incident 41"})
    post(console, "/api/v1/unfreeze", {"repository": "team/app"})
    post(console, "/api/v1/freeze", {"repository": "team/app", "reason": LONG_FREEZE})
    console.push("1.5.0", 5)
    notify(console, push_body("1.0.0", 9, LONG_REPOSITORY))
    notify(console, unusable_notification(8))
    found = console.settle()
    waiting = [d for d in found if d["status"] == "waiting" and d["tag"] == "1.5.0"]
    events = console.api("/api/v1/events")["events"]
    (unwatched,) = [e for e in events if e["repository"] == LONG_REPOSITORY]
    rejections = console.api("/api/v1/rejections")["rejections"]
    assert failed and waiting and rejections, (failed, waiting, rejections)
    return Seeded(
        failed=failed[0]["id"],
        frozen=waiting[0]["id"],
        event=unwatched["id"],
        rejection=rejections[0]["id"],
    )


def pages(seeded: Seeded) -> dict[str, tuple[str, dict[str, str]]]:
    """Each page with a table: its path, and the cells of long reasons that must show whole
    across (every match of each selector), with a part of the text the first one shows."""
    policy = LONG_POLICY[:60]
    matches = "1.5.0 matches regexp"
    return {
        "overview": ("/", {f"#failed-deployment-{seeded.failed} td.reason": LONG_MESSAGE[:60]}),
        "repositories": ("/repositories", {"td.policy": policy, "td.reason": "1.5.0"}),
        "repository": (
            REPOSITORY,
            {"td.policy": policy, "td.reason": "1.5.0", "#changes td.change": LONG_FREEZE[:60]},
        ),
        "workloads": ("/workloads", {"#workloads td.policy": policy}),
        "deployments": (
            "/deployments",
            {
                f"#deployment-{seeded.failed} td.reason": LONG_MESSAGE[:60],
                f"#deployment-{seeded.frozen} td.reason": LONG_FREEZE[:60],
                "#deployments td.reason": "",
            },
        ),
        "deployment": (f"/deployments/{seeded.frozen}", {"#deployment td.reason": matches}),
        "explain": (
            "/explain?repository=team/app",
            {'tr.push[data-tag="1.5.0"] td.reason': matches, "tr.push td.reason": ""},
        ),
        "events": (
            "/events",
            {
                f"#event-{seeded.event} td.reason": LONG_REPOSITORY[:60],
                f"#rejection-{seeded.rejection} td.reason": "push without",
            },
        ),
        "rejections": ("/rejections", {f"#rejection-{seeded.rejection} td.reason": "events[0]"}),
        "rejection": (f"/rejections/{seeded.rejection}", {"pre.reason": "events[7]"}),
        "notices": ("/notices", {}),
    }


def shows_whole(page: Page, selector: str, text: str, where: str) -> None:
    """Every ``selector`` of the page shows whole across, the first with ``text``."""
    expect(page.locator(selector).first).to_contain_text(text)
    assert offscreen(page, selector) == [], f"{where}: {selector}"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_table_shows_its_reasons_and_no_page_scrolls_sideways(
    page: Page, console: Console, shots: Path, width: int
) -> None:
    seeded = seed_long_reasons(console)
    page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
    sign_in(page)
    for name, (path, reasons) in pages(seeded).items():
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        save_screenshot(page, shots, f"{name}-{width}")
        assert not scrolls_sideways(page), f"{path} scrolls sideways at {width} px"
        for selector, text in reasons.items():
            shows_whole(page, selector, text, f"{path} at {width} px")

    # What a list cuts short is whole a tap away: on the item's page, or unfolded in place.
    page.goto("/deployments")
    whole = page.locator(f"#deployment-{seeded.frozen} a.whole").first
    expect(whole).to_have_attribute("href", f"/deployments/{seeded.frozen}")
    page.goto("/events")
    event = f"#event-{seeded.event}"
    page.locator(f"{event} details.whole summary").click()
    shows_whole(page, f"{event} details.whole", LONG_REPOSITORY, f"/events at {width} px")
    assert not scrolls_sideways(page), f"/events scrolls sideways at {width} px, unfolded"


def test_a_repository_s_changes_read_as_words(page: Page, console: Console) -> None:
    seed_long_reasons(console)
    sign_in(page)
    page.goto(REPOSITORY)
    changes = [text.strip() for text in page.locator("#changes td.change").all_inner_texts()]
    assert changes == [
        f'freeze: frozen "{LONG_FREEZE}"',
        'freeze: unfrozen (was "incident 41")',
        'freeze: frozen "incident 41"',
        f'policy: "minor" → {json.dumps(LONG_POLICY)}',
        "auto_deploy: false → true",
        "auto_deploy: true → false",
        'pinned_tag: "1.4.0" → ""',
        'pinned_tag: "" → "1.4.0"',
    ]
    assert not re.search(r"\bTrue\b|\bFalse\b|\{", " ".join(changes))
