"""Settings left out of the ini reach the code exactly as if the ini had said their default."""

from __future__ import annotations

from typing import Any

from hub.settings import SETTINGS, validate


def test_a_default_written_as_ini_text_reaches_the_code_parsed() -> None:
    settings: dict[str, Any] = {spec.key: "x" for spec in SETTINGS if spec.required}
    settings.update({"hub.database_url": "sqlite://", "hub.secret_key": "s" * 32})
    validate(settings)
    # The disconnection window: a pair of hours, not the text "10-16".
    assert settings["hub.meters.switching_hours"] == (10, 16)
    for spec in SETTINGS:
        if isinstance(spec.default, str) and spec.default and not spec.required:
            assert settings[spec.key] == spec.parse(spec.default), spec.key
