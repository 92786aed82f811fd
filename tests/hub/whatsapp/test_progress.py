"""A bill run's progress where operators look: hub-admin and the console."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from webtest import TestApp

from connectors.demo import PERSONAS
from hub.cli import main as hub_admin
from hub.console.officers import create_officer
from hub.models import Officer
from tests.hub.whatsapp.conftest import Channel

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _ini(tmp_path: Path, settings: dict[str, Any]) -> Path:
    ini = tmp_path / "hub.ini"
    lines = ["[app:main]", "use = egg:discom-hub"]
    lines += [f"{k} = {v.replace('%', '%%')}" for k, v in settings.items() if isinstance(v, str) and v]
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ini


def _last_json(out: str) -> dict[str, Any]:
    line = [x for x in out.strip().splitlines() if x.startswith("{")][-1]
    loaded: dict[str, Any] = json.loads(line)
    return loaded


def test_hub_admin_starts_stops_resumes_and_reports_a_run_and_the_console_shows_it(
    channel: Channel, live_client: Any, live_settings: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    headers = live_client(["whatsapp:consent"])["headers"]
    persona = PERSONAS["dues"]
    channel.app.post_json(
        "/api/v1/whatsapp/consents",
        {
            "mobile": persona.mobile,
            "consent": "opted_in",
            "how": "office_form",
            "source": "DC/2026/1",
            "bills_for": list(persona.consumer_numbers),
        },
        headers=headers,
    )
    ini = str(_ini(tmp_path, live_settings))
    assert hub_admin([ini, "whatsapp", "bill-run", "start", "2026-13"]) == 2
    assert hub_admin([ini, "whatsapp", "bill-run", "status", "2026-11"]) == 1
    assert hub_admin([ini, "whatsapp", "bill-run", "start", "2026-11"]) == 0
    started = _last_json(capsys.readouterr().out)
    assert started["state"] == "running" and started["handed_off"] == 0
    assert started["eligible"] == len(persona.connections)
    assert hub_admin([ini, "whatsapp", "bill-run", "stop", "2026-11"]) == 0
    assert _last_json(capsys.readouterr().out)["state"] == "stopped"
    assert hub_admin([ini, "whatsapp", "bill-run", "start", "2026-11", "--here"]) == 0
    done = _last_json(capsys.readouterr().out)
    assert done["state"] == "done" and done["handed_off"] == done["waiting"] == len(persona.connections)
    assert hub_admin([ini, "whatsapp", "bill-run", "status"]) == 0
    assert _last_json(capsys.readouterr().out)["cycle"] == "2026-11"
    assert hub_admin([ini, "whatsapp", "consent", "+91 " + persona.mobile]) == 0
    consent = _last_json(capsys.readouterr().out)
    assert consent["consent"] == "opted_in" and consent["how"] == "office_form"
    assert hub_admin([ini, "whatsapp", "consent", "१२३"]) == 2

    browser = TestApp(channel.app.app, extra_environ={"wsgi.url_scheme": "https"})
    assert browser.get("/console/whatsapp", status=302).location.endswith("/console/login")
    with Session(channel.engine) as session, session.begin():
        if session.scalar(select(Officer).where(Officer.username == "it.cell")) is None:
            create_officer(session, "it.cell", "Anil Verma", PASSWORD, ["revenue"], ["DIV-BPL-1"])
    token = CSRF.search(browser.get("/console/login").text)
    assert token is not None
    browser.post(
        "/console/login",
        {"username": "it.cell", "password": PASSWORD, "csrf_token": token.group(1)},
        status=302,
    )
    page = browser.get("/console").click(href="/console/whatsapp")
    assert "2026-11" in page.text and "done" in page.text
    assert f"{len(persona.connections)} / {len(persona.connections)}" in page.text
