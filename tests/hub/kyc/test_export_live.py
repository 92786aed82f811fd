"""exportKycRecords with real commits: streaming in chunks, audit per chunk, resume after a dropped connection."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webob import Request
from webtest import TestApp

from hub.audit import verify_chain
from hub.kyc.consent import withdraw_consent
from hub.kyc.policy import set_policy
from hub.models.audit import AuditEntry
from tests.hub.kyc.kycdata import SCHEME, add_records, give_consent, kyc_record

EXPORT = "/api/v1/kyc/export"
CHUNK = 4


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, "hub.kyc_api.export_chunk": str(CHUNK), "hub.kyc_api.exports_per_minute": "50"}


@pytest.fixture(scope="module")
def population(live_wsgi_app: Any, live_engine: Engine) -> dict[str, Any]:
    """15 connections of 15 people; the odd ones consent. One Devanagari name with a formula-like prefix."""
    consenting: list[str] = []
    with Session(live_engine) as session, session.begin():
        for i in range(15):
            number = f"10300{i:05d}"
            samagra = f"91000{i:04d}"
            name = "=सरिता बाई" if i == 3 else "सुनीता देवी वर्मा"
            add_records(session, kyc_record(number, samagra, holder_name_hi=name))
            if i % 2:
                give_consent(session, samagra)
                consenting.append(number)
    return {"consenting": consenting}


@pytest.fixture()
def exporter(live_client: Any, live_engine: Engine) -> Iterator[dict[str, Any]]:
    client = live_client(["kyc:export"], [SCHEME])
    with Session(live_engine) as session, session.begin():
        set_policy(session, client["client_id"], SCHEME, "consumer_number,holder_name_hi,bank_account")
    yield client


def _disclosed(engine: Engine, client_id: str) -> list[str]:
    with Session(engine) as session:
        rows = session.execute(
            select(AuditEntry.data_json).where(
                AuditEntry.actor == f"client:{client_id}", AuditEntry.action == "kyc.disclosed"
            )
        ).scalars()
        return [json.loads(r)["consumer_number"] for r in rows]


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def test_full_export_ndjson(
    live_app: TestApp, population: Any, exporter: dict[str, Any], live_engine: Engine
) -> None:
    answer = live_app.get(EXPORT, {"purpose": SCHEME}, headers=exporter["headers"])
    assert answer.content_type == "application/x-ndjson"
    lines = _lines(answer.body)
    records = [line for line in lines if "consumer_number" in line]
    assert [r["consumer_number"] for r in records] == population["consenting"]
    assert records[0] == {
        "consumer_number": population["consenting"][0],
        "holder_name_hi": "सुनीता देवी वर्मा",
        "bank_account": "XXXXXX7812",
    }
    checkpoints = [line["_checkpoint"] for line in lines if "_checkpoint" in line]
    assert len(checkpoints) == -(-len(records) // CHUNK)
    assert lines[-1]["_end"] is True
    # Every record that left is in the audit log, once; the chain holds.
    assert sorted(_disclosed(live_engine, exporter["client_id"])) == sorted(population["consenting"])
    with Session(live_engine) as session:
        assert verify_chain(session).ok


def test_csv_export(live_app: TestApp, population: Any, exporter: dict[str, Any]) -> None:
    answer = live_app.get(EXPORT, {"purpose": SCHEME, "format": "csv"}, headers=exporter["headers"])
    assert answer.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.body.decode("utf-8"))))
    assert rows[0] == ["consumer_number", "holder_name_hi", "bank_account", "_cursor"]
    assert [r[0] for r in rows[1:]] == population["consenting"]
    by_number = {r[0]: r for r in rows[1:]}
    # A cell starting like a formula is defused; Devanagari is intact.
    assert by_number["1030000003"][1] == "'=सरिता बाई"
    # The last row of each chunk carries the resume cursor.
    assert [bool(r[3]) for r in rows[1:]] == [
        (i + 1) % CHUNK == 0 or i + 1 == len(rows) - 1 for i in range(len(rows) - 1)
    ]


def test_resume_after_a_dropped_connection(
    live_wsgi_app: Any, live_app: TestApp, population: Any, exporter: dict[str, Any], live_engine: Engine
) -> None:
    # A client reads the first chunk, then the connection drops: the server closes the iterator.
    request = Request.blank(EXPORT + f"?purpose={SCHEME}", headers=exporter["headers"])
    status, _headers, app_iter = request.call_application(live_wsgi_app)
    assert status.startswith("200")
    first = next(iter(app_iter))
    getattr(app_iter, "close", lambda: None)()
    received = _lines(first)
    got = [r["consumer_number"] for r in received if "consumer_number" in r]
    assert got == population["consenting"][:CHUNK]
    # Only what was produced was recorded as disclosed: the next chunk was never read.
    assert sorted(_disclosed(live_engine, exporter["client_id"])) == sorted(got)
    cursor = received[-1]["_checkpoint"]
    # Between the drop and the resume, a person withdraws: the resumed pull already leaves them out.
    leaving = population["consenting"][-1]
    with Session(live_engine) as session, session.begin():
        withdraw_consent(session, "91000" + leaving[-4:], SCHEME, "c_portal")
    resumed = _lines(
        live_app.get(EXPORT, {"purpose": SCHEME, "cursor": cursor}, headers=exporter["headers"]).body
    )
    rest = [r["consumer_number"] for r in resumed if "consumer_number" in r]
    assert got + rest == population["consenting"][:-1]
    assert sorted(_disclosed(live_engine, exporter["client_id"])) == sorted(got + rest)
    # The cursor is bound to this client: another exporter cannot use it.
    with Session(live_engine) as session:
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() > 0
