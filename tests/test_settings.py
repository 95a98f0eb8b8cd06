"""How settings load: one loader, its sources in order, and choices made once at load."""

from __future__ import annotations

import pytest

from gemini_gateway.settings import ConfigurationError, load_settings, with_stored


def test_stored_values_win_over_the_environment_and_init_and_leave_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_RETRIES", "3")
    monkeypatch.setenv("COOLDOWN_MAX_SECONDS", "99")
    settings = load_settings(
        stored={"max_retries": 7, "pool_strategy": "round_robin"}, cooldown_base_seconds=4
    )
    assert settings.max_retries == 7  # stored over the environment
    assert settings.pool_strategy == "round_robin"  # stored over the default
    assert settings.cooldown_max_seconds == 99  # the environment where nothing is stored
    assert settings.cooldown_base_seconds == 4  # init where nothing is stored
    assert (
        load_settings(stored={"cooldown_base_seconds": 6}, cooldown_base_seconds=4).cooldown_base_seconds == 6
    )
    assert load_settings().max_retries == 3  # stored values belong to the one build that was given them


def test_building_again_without_a_stored_value_gives_back_the_started_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_RETRIES", "3")
    base = load_settings(port=9123)
    edited = with_stored(base, {"max_retries": 5})
    assert (edited.max_retries, edited.port) == (5, 9123)
    assert with_stored(base, {}).max_retries == 3


def test_a_bad_stored_value_is_a_configuration_error_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(stored={"max_retries": "many"})
    assert raised.value.problems and raised.value.problems[0].startswith("MAX_RETRIES:")


@pytest.mark.parametrize("writer", ["auto", "inline", "process"])
def test_recording_writer_auto_is_decided_when_settings_load(writer: str) -> None:
    settings = load_settings(recording_writer=writer)
    assert settings.recording_writer in ("inline", "process")
    if writer != "auto":
        assert settings.recording_writer == writer
