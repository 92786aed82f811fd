"""exportKycRecords in chunks large enough for the bulk audit path (COPY on PostgreSQL).

The disclosure entries of a chunk are written while the chunk is rendered;
these tests hold that every record that leaves is logged exactly once, that a
person's listDisclosures shows exactly that, and that a chunk which fails to
render is neither sent nor logged.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webob import Request
from webtest import TestApp

from hub.audit import verify_chain
from hub.kyc.policy import set_policy
from hub.models.audit import AuditEntry
from hub.models.kyc import ConnectionKyc
from tests.hub.kyc.kycdata import SCHEME, add_records, give_consent, kyc_record

EXPORT = "/api/v1/kyc/export"
# Above hub.audit's COPY threshold (64), so both chunks below take the bulk path.
CHUNK = 100
FIELDS = ["consumer_number", "holder_name_hi", "bank_account:full"]


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    return {**live_settings, "hub.kyc_api.export_chunk": str(CHUNK), "hub.kyc_api.exports_per_minute": "50"}


def _person(i: int) -> str:
    # Every seventh connection belongs to the person of the one before: people with two connections.
    return f"920{i - 1 if i % 7 == 0 else i:06d}"


@pytest.fixture(scope="module")
def population(live_wsgi_app: Any, live_engine: Engine) -> dict[str, Any]:
    """270 connections; people whose number is not a multiple of three consent (175 connections)."""
    consenting: list[tuple[str, str]] = []  # (Samagra ID, consumer number) in export order
    with Session(live_engine) as session, session.begin():
        given: set[str] = set()
        for i in range(1, 271):
            number, person = f"10400{i:05d}", _person(i)
            add_records(session, kyc_record(number, person, holder_name_hi=f"सुनीता {i}"))
            if int(person) % 3:
                if person not in given:
                    give_consent(session, person)
                    given.add(person)
                consenting.append((person, number))
    assert CHUNK < len(consenting) < 2 * CHUNK and len(consenting) - CHUNK >= 64
    return {"consenting": consenting}


def _exporter(live_client: Any, live_engine: Engine) -> dict[str, Any]:
    client = live_client(["kyc:export"], [SCHEME])
    with Session(live_engine) as session, session.begin():
        set_policy(
            session,
            client["client_id"],
            SCHEME,
            "consumer_number,holder_name_hi,bank_account",
            full_bank_account=True,
        )
    return dict(client)


def _disclosed(engine: Engine, client_id: str) -> list[tuple[str, str, list[str], str]]:
    """(person, consumer number, fields, via) of every disclosure entry naming the client."""
    with Session(engine) as session:
        rows = session.execute(
            select(AuditEntry.subject_id, AuditEntry.data_json).where(
                AuditEntry.actor == f"client:{client_id}", AuditEntry.action == "kyc.disclosed"
            )
        ).all()
    return [
        (subject_id, data["consumer_number"], data["fields"], data["via"])
        for subject_id, data in ((r[0], json.loads(r[1])) for r in rows)
    ]


def _records(body: bytes) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in body.decode("utf-8").splitlines()]
    return [line for line in lines if "consumer_number" in line]


def test_every_record_exported_is_disclosed_once(
    live_app: TestApp, live_client: Any, live_engine: Engine, population: dict[str, Any]
) -> None:
    exporter = _exporter(live_client, live_engine)
    records = _records(live_app.get(EXPORT, {"purpose": SCHEME}, headers=exporter["headers"]).body)
    consenting = population["consenting"]
    assert [r["consumer_number"] for r in records] == [number for _, number in consenting]
    assert records[0]["bank_account"] == "50100234567812"
    disclosed = _disclosed(live_engine, exporter["client_id"])
    assert Counter((p, n) for p, n, _, _ in disclosed) == Counter(consenting)
    assert all(fields == FIELDS and via == "exportKycRecords" for _, _, fields, via in disclosed)
    with Session(live_engine) as session:
        assert verify_chain(session).ok

    # The person's own view: both of their connections, this client, nothing else.
    person, number = next((p, n) for p, n in consenting if int(n[-5:]) % 7 == 0)
    portal = live_client(["kyc:consent"])
    history = live_app.post_json(
        "/api/v1/kyc/my/disclosures",
        {"samagra_id": person, "mobile": "98999" + number[-5:]},
        headers=portal["headers"],
    ).json["disclosures"]
    mine = sorted(n for p, n in consenting if p == person)
    assert len(mine) == 2
    assert sorted(d["consumer_number"] for d in history) == mine
    assert {(d["client_id"], d["purpose"], d["via"], tuple(d["fields"])) for d in history} == {
        (exporter["client_id"], SCHEME, "exportKycRecords", tuple(FIELDS))
    }


def test_a_chunk_that_fails_to_render_is_neither_sent_nor_disclosed(
    live_wsgi_app: Any, live_client: Any, live_engine: Engine, population: dict[str, Any]
) -> None:
    exporter = _exporter(live_client, live_engine)
    consenting = population["consenting"]
    broken = consenting[CHUNK + 5][1]  # in the second chunk
    with Session(live_engine) as session, session.begin():
        original = session.scalar(
            select(ConnectionKyc.bank_account_enc).where(ConnectionKyc.consumer_number == broken)
        )
        # A ciphertext this hub's key cannot open (as after a botched key rotation).
        session.execute(
            update(ConnectionKyc)
            .where(ConnectionKyc.consumer_number == broken)
            .values(bank_account_enc="gAAAAAB" + "A" * 93)
        )
    try:
        request = Request.blank(EXPORT + f"?purpose={SCHEME}", headers=exporter["headers"])
        status, _headers, app_iter = request.call_application(live_wsgi_app)
        assert status.startswith("200")
        chunks = iter(app_iter)
        first = _records(next(chunks))
        with pytest.raises(ValueError, match="does not decrypt"):
            next(chunks)
        getattr(app_iter, "close", lambda: None)()
    finally:
        with Session(live_engine) as session, session.begin():
            session.execute(
                update(ConnectionKyc)
                .where(ConnectionKyc.consumer_number == broken)
                .values(bank_account_enc=original)
            )
    assert [r["consumer_number"] for r in first] == [n for _, n in consenting[:CHUNK]]
    # The first chunk left and is logged; of the second, nothing left and nothing is logged.
    assert Counter((p, n) for p, n, _, _ in _disclosed(live_engine, exporter["client_id"])) == Counter(
        consenting[:CHUNK]
    )
    with Session(live_engine) as session:
        assert verify_chain(session).ok
