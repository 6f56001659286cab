"""The list of payload formats: every listed parser behaves as the ``Parser`` protocol says."""

from __future__ import annotations

import pytest

from handlers import distribution, formats, harbor
from handlers.events import Parsed
from receiver.errors import PayloadError, UnknownFormat
from tests.support.fixture_files import FIXTURES, load_recorded

# One deploy-relevant example per format: adding a format without one fails below.
SAMPLES = {
    "distribution": FIXTURES / "distribution" / "03-push-oci-manifest-push-manifest.json",
    "harbor": FIXTURES / "harbor" / "harbor_docs_default_artifact_deleted.json",
}


def test_formats_are_listed_once() -> None:
    assert dict(formats.PARSERS) == {"distribution": distribution.parse, "harbor": harbor.parse}
    assert set(SAMPLES) == set(formats.PARSERS)


def test_the_list_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        formats.PARSERS["other"] = harbor.parse  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(formats.PARSERS))
def test_parser_for(name: str) -> None:
    assert formats.parser_for(name) is formats.PARSERS[name]


@pytest.mark.parametrize("name", ["", "Distribution", "dockerhub"])
def test_parser_for_unknown_format(name: str) -> None:
    with pytest.raises(UnknownFormat, match="known: distribution, harbor"):
        formats.parser_for(name)


@pytest.mark.parametrize("name", sorted(formats.PARSERS))
def test_parser_turns_its_sample_into_one_event(name: str) -> None:
    headers, body = load_recorded(SAMPLES[name])

    parsed = formats.parser_for(name)(body, headers, source=f"{name}-hook", registry="REG.example")

    [event] = parsed.events
    assert (event.source, event.registry) == (f"{name}-hook", "reg.example")
    assert (parsed.ignored, parsed.problems) == (0, ())


@pytest.mark.parametrize("name", sorted(formats.PARSERS))
@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"42"])
def test_parser_rejects_what_is_not_a_json_object(name: str, body: bytes) -> None:
    with pytest.raises(PayloadError):
        formats.parser_for(name)(body, {"Content-Type": "application/json"}, source="s")


@pytest.mark.parametrize("name", sorted(formats.PARSERS))
def test_parser_returns_parsed(name: str) -> None:
    headers, body = load_recorded(SAMPLES[name])

    assert isinstance(formats.parser_for(name)(body, headers, source="s"), Parsed)
