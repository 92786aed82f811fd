"""The standards file: the shipped one loads, a wrong one stops the hub at startup, naming the file."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from hub import main
from hub.complaints.workflow import DEFAULT_STANDARDS, Standards
from hub.settings import ConfigurationError


def test_shipped_standards_give_every_type_its_levels_and_compensation() -> None:
    standards = Standards.load(DEFAULT_STANDARDS)
    supply = standards.types["supply_failure"]
    assert supply.standard_hours == 4 and supply.levels[0] == "dc_assistant_manager"
    assert supply.compensation is not None
    assert supply.compensation.for_delay(timedelta(hours=13)) == Decimal("150.00")
    assert supply.compensation.for_delay(timedelta(days=30)) == Decimal("500.00")  # the cap
    assert supply.compensation.for_delay(timedelta(0)) == Decimal("0.00")
    assert standards.types["new_connection"].compensation is None


@pytest.mark.parametrize(
    "change",
    [
        {"level_hours": 0},
        {"level_hours": 5},  # longer than the standard
        {"escalate_to": ["dc_assistant_manager"]},  # a role twice
        {"compensation": {"rupees": "-5", "per_hours": 6, "max_rupees": "500"}},
        {"standard_hours": "soon"},
    ],
)
def test_a_wrong_standards_file_stops_the_hub(
    tmp_path: Path, app_settings: dict[str, Any], engine: Engine, change: dict[str, Any]
) -> None:
    data = json.loads(DEFAULT_STANDARDS.read_text(encoding="utf-8"))
    data["types"]["supply_failure"].update(change)
    path = tmp_path / "standards.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="hub.complaints.standards_file"):
        main({}, **{**app_settings, "hub.complaints.standards_file": str(path), "hub.test_engine": engine})
