"""``hub-admin <ini> complaints ...`` as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli import main
from tests.hub.complaints.conftest import ComplaintFlow


def test_complaints_list_and_standards(
    flow: ComplaintFlow, live_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number, _ = flow.persona("dues")
    complaint_no = flow.call(status=201, consumer_number=number, complaint_type="billing").json[
        "complaint_no"
    ]
    ini = tmp_path / "admin.ini"
    ini.write_text(
        "[app:main]\nuse = egg:discom-hub\n"
        f"hub.database_url = {live_database_url.replace('%', '%%')}\nhub.secret_key = test-secret-key\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main([str(ini), "complaints", "list", "--office", flow.dc_of(number), "--state", "open"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert complaint_no in {r["complaint_no"] for r in rows}
    assert all(r["state"] == "open" and r["office"] == flow.dc_of(number) for r in rows)

    assert main([str(ini), "complaints", "standards"]) == 0
    standards = {r["type"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert standards["supply_failure"]["standard_hours"] == 4
    assert standards["supply_failure"]["compensation"] == {
        "rupees": "50",
        "per_hours": 6,
        "max_rupees": "500",
    }
