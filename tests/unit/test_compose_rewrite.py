"""Rewriting a service's ``image:`` line in a compose file, byte for byte, and the references
and labels a compose container's replacement is named by (``deployers.compose``).

Each table row is a compose file as people write them; ``web`` is the service, moving from
``OLD`` to ``NEW``. A rewrite changes the value on that one line and nothing else; a file
where the line cannot be found beyond doubt is refused with words that say why.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployers.compose import ComposeService, compose_reference
from deployers.compose_file import RewriteRefused, rewrite_image, write_atomically
from deployers.docker_engine import split_reference

OLD = "registry.example:5000/team/app:1.0"
NEW = "registry.example:5000/team/app:1.1"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def rewrite(text: str) -> str:
    return rewrite_image(text, service="web", old=OLD, new=NEW)


REWRITES = [
    ("plain", f"services:\n  web:\n    image: {OLD}\n", f"services:\n  web:\n    image: {NEW}\n"),
    (
        "single quotes",
        f"services:\n  web:\n    image: '{OLD}'\n",
        f"services:\n  web:\n    image: '{NEW}'\n",
    ),
    (
        "double quotes",
        f'services:\n  web:\n    image: "{OLD}"\n',
        f'services:\n  web:\n    image: "{NEW}"\n',
    ),
    (
        "a trailing comment and blanks",
        f"services:\n  web:\n    image:   {OLD}   # pinned by ops  \n",
        f"services:\n  web:\n    image:   {NEW}   # pinned by ops  \n",
    ),
    (
        "a comment after quotes",
        f'services:\n  web:\n    image: "{OLD}"# no blank\n',
        f'services:\n  web:\n    image: "{NEW}"# no blank\n',
    ),
    (
        "a tab after the colon",
        f"services:\n  web:\n    image:\t{OLD}\n",
        f"services:\n  web:\n    image:\t{NEW}\n",
    ),
    (
        "CRLF line endings",
        f"services:\r\n  web:\r\n    image: {OLD}\r\n    restart: always\r\n",
        f"services:\r\n  web:\r\n    image: {NEW}\r\n    restart: always\r\n",
    ),
    (
        "no newline at the end",
        f"services:\n  web:\n    image: {OLD}",
        f"services:\n  web:\n    image: {NEW}",
    ),
    (
        "a byte order mark",
        f"\ufeffservices:\n  web:\n    image: {OLD}\n",
        f"\ufeffservices:\n  web:\n    image: {NEW}\n",
    ),
    (
        "four-space indents and a version",
        f'version: "3.8"\nservices:\n    web:\n        image: {OLD}\n',
        f'version: "3.8"\nservices:\n    web:\n        image: {NEW}\n',
    ),
    (
        "quoted keys",
        f'"services":\n  "web":\n    "image": {OLD}\n',
        f'"services":\n  "web":\n    "image": {NEW}\n',
    ),
    (
        "another service with the same image, before and after",
        f"services:\n  api:\n    image: {OLD}\n  web:\n    image: {OLD}\n  worker:\n"
        f"    image: {OLD}\n",
        f"services:\n  api:\n    image: {OLD}\n  web:\n    image: {NEW}\n  worker:\n"
        f"    image: {OLD}\n",
    ),
    (
        "image: deeper in the service (environment, a block scalar)",
        f"services:\n  web:\n    environment:\n      image: {OLD}\n    command: |\n"
        f"      image: {OLD}\n    image: {OLD}\n",
        f"services:\n  web:\n    environment:\n      image: {OLD}\n    command: |\n"
        f"      image: {OLD}\n    image: {NEW}\n",
    ),
    (
        "a sequence at the key's indent, comments at any indent",
        f"# top\nservices:\n# between\n  web:  # the web\n    ports:\n    - '80:80'\n"
        f"      # odd comment\n    image: {OLD}\n",
        f"# top\nservices:\n# between\n  web:  # the web\n    ports:\n    - '80:80'\n"
        f"      # odd comment\n    image: {NEW}\n",
    ),
    (
        "an anchor on the service",
        f"services:\n  web: &web\n    image: {OLD}\n  copy: *web\n",
        f"services:\n  web: &web\n    image: {NEW}\n  copy: *web\n",
    ),
    (
        "document markers and top-level keys around",
        f"---\nx-common:\n  image: {OLD}\nservices:\n  web:\n    image: {OLD}\n"
        f"networks:\n  front: {{}}\n...\n",
        f"---\nx-common:\n  image: {OLD}\nservices:\n  web:\n    image: {NEW}\n"
        f"networks:\n  front: {{}}\n...\n",
    ),
    (
        "the new image already (a rollback of a deploy that left the file)",
        f"services:\n  web:\n    image: {NEW}  # as ops left it\n",
        f"services:\n  web:\n    image: {NEW}  # as ops left it\n",
    ),
    (
        "blank lines inside the blocks",
        f"services:\n\n  web:\n\n    restart: always\n\n    image: {OLD}\n\n",
        f"services:\n\n  web:\n\n    restart: always\n\n    image: {NEW}\n\n",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [r[1:] for r in REWRITES], ids=[r[0] for r in REWRITES]
)
def test_the_image_line_is_rewritten_and_nothing_else(text: str, expected: str) -> None:
    assert rewrite(text) == expected


REFUSALS = [
    ("no services", f"web:\n  image: {OLD}\n", "no services: in the file"),
    ("no such service", f"services:\n  api:\n    image: {OLD}\n", "no web: in services:"),
    ("no image", "services:\n  web:\n    build: .\n", "no image: in service web"),
    (
        "an image from a merge key",
        f"x-base: &base\n  image: {OLD}\nservices:\n  web:\n    <<: *base\n",
        "no image: in service web",
    ),
    (
        "the service twice",
        f"services:\n  web:\n    image: {OLD}\n  web:\n    image: {OLD}\n",
        "web: is in services: more than once",
    ),
    (
        "image twice",
        f"services:\n  web:\n    image: {OLD}\n    image: {OLD}\n",
        r"image: is in service web more than once \(lines 3, 4\)",
    ),
    (
        "services in two documents",
        f"services:\n  web:\n    image: {OLD}\n---\nservices:\n  web:\n    image: {OLD}\n",
        "services: is in the file more than once",
    ),
    (
        "another image",
        "services:\n  web:\n    image: other/app:1.0\n",
        "names image 'other/app:1.0'",
    ),
    ("another tag", "services:\n  web:\n    image: reg/app:0.9\n", "names image 'reg/app:0.9'"),
    ("a variable", "services:\n  web:\n    image: ${IMAGE}\n", "uses a variable"),
    (
        "a variable tag",
        "services:\n  web:\n    image: registry.example:5000/team/app:${TAG:-1.0}\n",
        "uses a variable",
    ),
    ("the value on the next line", f"services:\n  web:\n    image:\n      {OLD}\n", "not on its"),
    ("a block scalar", f"services:\n  web:\n    image: >-\n      {OLD}\n", "not a plain value"),
    ("an alias", "services:\n  web:\n    image: *app\n", "not a plain value"),
    ("a tag", f"services:\n  web:\n    image: !!str {OLD}\n", "not a plain value"),
    ("escapes", f'services:\n  web:\n    image: "{OLD}\\t"\n', "quoted with escapes"),
    ("doubled quotes", "services:\n  web:\n    image: 'it''s'\n", "quoted with escapes"),
    ("an open quote", f"services:\n  web:\n    image: '{OLD}\n", "quoted with escapes"),
    ("text after quotes", f"services:\n  web:\n    image: '{OLD}' x\n", "followed by 'x'"),
    ("a flow mapping of services", f"services: {{web: {{image: {OLD}}}}}\n", "on one line"),
    ("a flow mapping of the service", f"services:\n  web: {{image: {OLD}}}\n", "on one line"),
    ("JSON", f'{{"services": {{"web": {{"image": "{OLD}"}}}}}}\n', "line 1 is not a key"),
    (
        "a line no mapping has",
        f"services:\n  web:\n    image: {OLD}\n  ? complex\n",
        "line 4 is not a key",
    ),
    ("tab indentation", f"services:\n\tweb:\n\t\timage: {OLD}\n", "line 2 is not a key"),
]


@pytest.mark.parametrize(("text", "words"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_line_that_cannot_be_found_beyond_doubt_is_refused(text: str, words: str) -> None:
    with pytest.raises(RewriteRefused, match=words):
        rewrite(text)


@st.composite
def compose_files(draw: st.DrawFn) -> str:
    """A compose file with ``web`` among other services, written in one of the ways people
    write them: indents, quoting, comments, blank lines and line endings vary."""
    step = draw(st.sampled_from([2, 3, 4]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    comment = st.sampled_from(["", "  # note", " #", "\t# tab"])
    quote = draw(st.sampled_from(["", "'", '"']))
    pad, deep = " " * step, " " * (2 * step)
    names = draw(st.lists(st.sampled_from(["api", "db", "worker", "cache"]), unique=True))
    position = draw(st.integers(min_value=0, max_value=len(names)))
    blocks = []
    for name in [*names[:position], "web", *names[position:]]:
        lines = [f"{pad}{name}:{draw(comment)}"]
        if draw(st.booleans()):
            lines.append(f"{deep}restart: unless-stopped")
        if draw(st.booleans()):
            lines.append(f"{deep}ports:{end}{deep}- '8080:80'")
        lines.append(f"{deep}image: {quote}{OLD}{quote}{draw(comment)}")
        if draw(st.booleans()):
            lines.append(f"{deep}environment:{end}{deep}{pad}image: {OLD}")
        blocks.append(end.join(lines))
    head = draw(st.sampled_from(["", f"version: '3.8'{end}", f"# project{end}{end}"]))
    return f"{head}services:{end}" + end.join(blocks) + end


@given(compose_files())
def test_a_rewrite_changes_one_line_and_goes_back(text: str) -> None:
    rewritten = rewrite(text)
    changed = [
        (before, after)
        for before, after in zip(text.splitlines(True), rewritten.splitlines(True), strict=True)
        if before != after
    ]
    assert len(changed) == 1
    assert changed[0][1] == changed[0][0].replace(OLD, NEW)
    assert rewrite_image(rewritten, service="web", old=NEW, new=OLD) == text


SPLITS = [
    ("app", ("app", None, None)),
    ("app:1.0", ("app", "1.0", None)),
    ("localhost:5000/app", ("localhost:5000/app", None, None)),
    ("localhost:5000/team/app:1.0", ("localhost:5000/team/app", "1.0", None)),
    (f"registry.example/app@{DIGEST}", ("registry.example/app", None, DIGEST)),
    (f"registry.example:5000/app:1.0@{DIGEST}", ("registry.example:5000/app", "1.0", DIGEST)),
]


@pytest.mark.parametrize(("text", "parts"), SPLITS, ids=[s[0] for s in SPLITS])
def test_a_reference_splits_as_it_is_written(
    text: str, parts: tuple[str, str | None, str | None]
) -> None:
    assert split_reference(text) == parts


REPO = "registry.example:5000/team/app"
HUB = "docker.io/library/nginx"
REFERENCES = [
    ("the same tag stays as written", OLD, f"{REPO}:1.0@{DIGEST}", OLD),
    ("a short name stays short", "nginx:1.25", f"{HUB}:1.25@{DIGEST}", "nginx:1.25"),
    ("no tag is latest", "nginx", f"{HUB}:latest@{DIGEST}", "nginx"),
    ("another tag, the name as written", "nginx:1.25", f"{HUB}:1.27@{DIGEST}", "nginx:1.27"),
    ("a pinned digest is pinned anew", f"{OLD}@{OTHER}", f"{NEW}@{DIGEST}", f"{NEW}@{DIGEST}"),
    ("a digest without a tag", OLD, f"{REPO}@{DIGEST}", f"{REPO}@{DIGEST}"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "wanted", "expected"), [r[1:] for r in REFERENCES], ids=[r[0] for r in REFERENCES]
)
def test_the_replacement_names_its_image_as_compose_would(
    written: str, wanted: str, expected: str
) -> None:
    assert compose_reference(written, wanted) == expected


def test_a_compose_service_is_read_from_its_labels() -> None:
    labels = {
        "com.docker.compose.project": "shop",
        "com.docker.compose.service": "web",
        "com.docker.compose.project.working_dir": "/srv/shop",
        "com.docker.compose.project.config_files": "docker-compose.yml,/etc/shop/override.yml",
        "com.docker.compose.project.environment_file": "prod.env",
        "com.docker.compose.version": "1.29.2",
    }
    v2 = {**labels, "com.docker.compose.version": "2.24.5"}

    service = ComposeService.of(labels)

    assert service == ComposeService(
        project="shop",
        service="web",
        files=(Path("/srv/shop/docker-compose.yml"), Path("/etc/shop/override.yml")),
        working_dir=Path("/srv/shop"),
        env_file=Path("/srv/shop/prod.env"),
        version="1.29.2",
    )
    assert service.v1 and service.program == ("docker-compose",)
    v2_service = ComposeService.of(v2)
    assert v2_service is not None and not v2_service.v1
    assert v2_service.program == ("docker", "compose")
    assert ComposeService.of({"regdeploy.enable": "true"}) is None
    assert ComposeService.of({"com.docker.compose.project": "shop"}) is None


def test_a_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "docker-compose.yml"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    link = tmp_path / "compose.yml"
    link.symlink_to(target)

    write_atomically(link, "new\r\n")

    assert target.read_bytes() == b"new\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compose.yml", "docker-compose.yml"]
