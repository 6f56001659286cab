"""Where ``make demo`` serves regdeploy: ``$REGDEPLOY_PORT``, else 8080, else a free port."""

from __future__ import annotations

import pytest

from scripts.demo import serving_port


def test_the_port_of_the_environment_is_served_on() -> None:
    assert serving_port({"REGDEPLOY_PORT": "18080"}, is_free=lambda port: True) == (18080, None)


@pytest.mark.parametrize("env", [{}, {"REGDEPLOY_PORT": ""}])
def test_without_one_it_is_8080(env: dict[str, str]) -> None:
    assert serving_port(env, is_free=lambda port: True) == (8080, None)


def test_a_taken_port_gives_way_to_a_free_one_and_says_so() -> None:
    port, note = serving_port({"REGDEPLOY_PORT": "18080"}, is_free=lambda port: port != 18080)
    assert port != 18080
    assert note == (
        f"port 18080 ($REGDEPLOY_PORT) is taken by another program: regdeploy serves on {port} "
        "instead"
    )


def test_a_variable_that_names_no_port_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^\$REGDEPLOY_PORT is 'eighty', not a port \(1-65535\)$"):
        serving_port({"REGDEPLOY_PORT": "eighty"}, is_free=lambda port: True)
