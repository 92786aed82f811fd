"""An officer's jurisdiction: their offices and every office below them, from billing's hierarchy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from connectors.billing import OfficeCodes
from hub.cli import main
from hub.models.office import OfficeLink
from hub.models.officer import Officer
from hub.offices import jurisdiction, load_offices, offices_below, record_chains

# Two circles; circle A has two divisions, each with a zone of two DCs (and DC-A3 a zone of its own).
EXTRACT = [
    {"code": "CIR-A", "level": "circle", "parent_code": ""},
    {"code": "DIV-A-1", "level": "division", "parent_code": "CIR-A"},
    {"code": "DIV-A-2", "level": "division", "parent_code": "CIR-A"},
    {"code": "ZON-A-1A", "level": "zone", "parent_code": "DIV-A-1"},
    {"code": "ZON-A-2A", "level": "zone", "parent_code": "DIV-A-2"},
    {"code": "DC-A1", "level": "dc", "parent_code": "ZON-A-1A"},
    {"code": "DC-A2", "level": "dc", "parent_code": "ZON-A-1A"},
    {"code": "DC-A3", "level": "dc", "parent_code": "ZON-A-2A"},
    {"code": "CIR-B", "level": "circle", "parent_code": ""},
    {"code": "DIV-B-1", "level": "division", "parent_code": "CIR-B"},
    {"code": "DC-B1", "level": "dc", "parent_code": "DIV-B-1"},
]


def test_offices_below_follow_billings_hierarchy(dbsession: Session) -> None:
    report = load_offices(dbsession, EXTRACT)
    assert report.loaded == len(EXTRACT) and report.refused == []
    assert offices_below(dbsession, ["DIV-A-1"]) == ["DC-A1", "DC-A2", "DIV-A-1", "ZON-A-1A"]
    assert offices_below(dbsession, ["CIR-A"]) == sorted(
        ["CIR-A", "DIV-A-1", "DIV-A-2", "ZON-A-1A", "ZON-A-2A", "DC-A1", "DC-A2", "DC-A3"]
    )
    # A DC is its own jurisdiction; an office the hierarchy does not hold still covers itself.
    assert offices_below(dbsession, ["DC-A3"]) == ["DC-A3"]
    assert offices_below(dbsession, ["DC-NEW-9"]) == ["DC-NEW-9"]
    assert offices_below(dbsession, []) == []
    # The managing director's office covers every office.
    assert set(offices_below(dbsession, ["DISCOM"])) == {"DISCOM", *(row["code"] for row in EXTRACT)}
    officer = Officer(
        username="x", name="x", password_hash="x", roles=["ee"], offices=["DIV-B-1", "ZON-A-2A"]
    )
    assert jurisdiction(dbsession, officer) == ["DC-A3", "DC-B1", "DIV-B-1", "ZON-A-2A"]


def test_billings_chains_and_a_bad_extract(dbsession: Session) -> None:
    written = record_chains(
        dbsession,
        [
            OfficeCodes("DC-C1", "ZON-C-1A", "DIV-C-1", "CIR-C"),
            OfficeCodes("DC-C2", "ZON-C-1A", "DIV-C-1", "CIR-C"),
        ],
    )
    assert written == 5
    assert offices_below(dbsession, ["CIR-C"]) == ["CIR-C", "DC-C1", "DC-C2", "DIV-C-1", "ZON-C-1A"]
    # A DC moved to another zone is below the new one only.
    record_chains(dbsession, [OfficeCodes("DC-C2", "ZON-C-1B", "DIV-C-1", "CIR-C")])
    assert offices_below(dbsession, ["ZON-C-1A"]) == ["DC-C1", "ZON-C-1A"]

    bad = load_offices(
        dbsession,
        [
            {"code": "dc 1", "level": "dc", "parent_code": "ZON-X"},
            {"code": "DC-X1", "level": "subdivision", "parent_code": "ZON-X"},
            {"code": "DC-X2", "level": "dc", "parent_code": ""},
            {"code": "CIR-X", "level": "circle", "parent_code": "DISCOM"},
            {"code": "DISCOM", "level": "circle", "parent_code": ""},
            # Two zones each naming the other: refused by no rule, but reading them still ends.
            {"code": "ZON-L1", "level": "zone", "parent_code": "ZON-L2"},
            {"code": "ZON-L2", "level": "zone", "parent_code": "ZON-L1"},
        ],
    )
    assert bad.refused == [(2, "code"), (3, "level"), (4, "parent_code"), (5, "parent_code"), (6, "code")]
    assert bad.loaded == 2
    assert offices_below(dbsession, ["ZON-L1"]) == ["ZON-L1", "ZON-L2"]


def test_hub_admin_loads_billings_offices_extract(
    engine: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extract = tmp_path / "offices.csv"
    extract.write_text(
        "code,level,parent_code\nCIR-Q,circle,\nDIV-Q-1,division,CIR-Q\nDC-Q1,dc,DIV-Q-1\nDC-Q2,block,DIV-Q-1\n",
        encoding="utf-8",
    )
    ini = tmp_path / "admin.ini"
    ini.write_text(
        "[app:main]\nuse = egg:discom-hub\n"
        f"hub.database_url = {database_url.replace('%', '%%')}\nhub.secret_key = test-secret-key\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    try:
        # A refused row is reported by line and the exit status says so; the rest is loaded.
        assert main([str(ini), "offices", "load", str(extract)]) == 1
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert lines == [{"loaded": 3, "refused": 1}, {"line": 5, "refused": "level"}]
        with Session(engine) as session:
            assert offices_below(session, ["CIR-Q"]) == ["CIR-Q", "DC-Q1", "DIV-Q-1"]
        (tmp_path / "bad.csv").write_text("code,level\nDC-Q3,dc\n", encoding="utf-8")
        assert main([str(ini), "offices", "load", str(tmp_path / "bad.csv")]) == 2
    finally:
        with engine.begin() as conn:
            conn.execute(delete(OfficeLink).where(OfficeLink.code.in_(["CIR-Q", "DIV-Q-1", "DC-Q1"])))
