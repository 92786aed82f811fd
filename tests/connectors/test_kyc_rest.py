"""RestKyc (httpx) against a fake REST KYC server on 127.0.0.1, incl. errors and slow answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine

from connectors.base import ConnectorContext, load_connector
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound
from connectors.kyc import EkycRefusal, IKyc, KycStatus
from connectors.kyc.rest import RestKyc
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer, closed_port


def _record(number: str, **kw: Any) -> dict[str, Any]:
    base = {
        "consumer_number": number,
        "holder_name_en": "Sunita Devi Verma",
        "holder_name_hi": "सुनीता देवी वर्मा",
        "samagra_id": "900000021",
        "mobile": "9999000021",
        "bank_account": "50100234567812",
        "ifsc": "HDFC0001234",
        "status": "complete",
        "kyc_date": "2026-10-02",
        "source": "ekyc",
        "updated_at": "2026-10-02T06:30:00+00:00",
    }
    base.update(kw)
    return base


class FakeKyc:
    """The KYC service's contract over in-memory records; ``changes`` is the feed in order."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.changes: list[str] = []
        self.override: dict[str, Any] | None = None
        self.auth: list[str | None] = []
        for number, kw in (
            ("1019990020", {}),
            ("1019990038", {}),
            (
                "1019990053",
                {
                    "holder_name_en": "Priya Yadav",
                    "holder_name_hi": "प्रिया यादव",
                    "samagra_id": None,
                    "mobile": "9999000041",
                    "bank_account": None,
                    "ifsc": None,
                    "status": "incomplete",
                    "kyc_date": None,
                    "source": "migration",
                },
            ),
        ):
            self.put(_record(number, **kw))

    def put(self, record: dict[str, Any]) -> None:
        # A change log: every change is appended, so a cursor past it sees only what came later.
        self.records[record["consumer_number"]] = record
        self.changes.append(record["consumer_number"])

    def __call__(self, request: FakeRequest) -> FakeResponse:
        self.auth.append(request.headers.get("authorization"))
        if self.override is not None:
            return FakeResponse.json(200, self.override)
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if request.method == "GET" and parts[:3] == ["v1", "kyc", "records"] and len(parts) == 4:
            record = self.records.get(parts[3])
            return (
                FakeResponse.json(200, {"record": record})
                if record
                else FakeResponse.json(404, {"error": "not_found"})
            )
        if request.method == "POST" and url.path == "/v1/kyc/records/lookup":
            wanted = request.json()["consumer_numbers"]
            return FakeResponse.json(200, {"records": [self.records[n] for n in wanted if n in self.records]})
        if request.method == "GET" and parts[:3] == ["v1", "kyc", "samagra"]:
            found = [r for r in self.records.values() if r["samagra_id"] == parts[3]]
            return FakeResponse.json(200, {"records": found})
        if request.method == "POST" and url.path == "/v1/ekyc":
            body = request.json()
            record = self.records.get(body["consumer_number"])
            if record is None:
                return FakeResponse.json(200, {"accepted": False, "reason": "unknown_consumer"})
            if body["samagra_id"] != "900000041":
                return FakeResponse.json(200, {"accepted": False, "reason": "samagra_mismatch"})
            updated = dict(
                record,
                samagra_id=body["samagra_id"],
                status="complete",
                bank_account="62011122233",
                ifsc="BKID0006201",
                kyc_date="2026-11-22",
                source="ekyc",
                updated_at="2026-11-22T05:00:00+00:00",
                aadhaar="999988887777",
            )
            self.put(updated)
            return FakeResponse.json(200, {"accepted": True, "record": updated})
        if request.method == "GET" and url.path == "/v1/kyc/changes":
            query = parse_qs(url.query)
            cursor = query.get("cursor", ["c0"])[0]
            if not cursor.startswith("c") or not cursor[1:].isdigit():
                return FakeResponse.json(400, {"error": "invalid_cursor"})
            start, limit = int(cursor[1:]), int(query["limit"][0])
            page = self.changes[start : start + limit]
            return FakeResponse.json(
                200, {"records": [self.records[n] for n in page], "next_cursor": f"c{start + len(page)}"}
            )
        return FakeResponse.json(404, {"error": "no_route"})


@pytest.fixture()
def fake() -> Iterator[tuple[FakeServer, FakeKyc]]:
    data = FakeKyc()
    with FakeServer(data) as server:
        yield server, data


def _client(url: str, **options: str) -> RestKyc:
    context = ConnectorContext(
        "kyc",
        {
            "backend": "connectors.kyc.rest:RestKyc",
            "url": url,
            "read_timeout": "0.5",
            "connect_timeout": "0.5",
            **options,
        },
        create_engine("sqlite://"),
    )
    client = load_connector(context.options["backend"], context)
    assert isinstance(client, RestKyc) and IKyc.providedBy(client)
    return client


@pytest.fixture()
def kyc(fake: tuple[FakeServer, FakeKyc]) -> RestKyc:
    return _client(fake[0].url, api_key="k-123")


def test_records_round_trip_with_devanagari(kyc: RestKyc, fake: tuple[FakeServer, FakeKyc]) -> None:
    kyc.heartbeat()
    record = kyc.get_record("1019990020")
    assert record.holder_name_hi == "सुनीता देवी वर्मा"
    assert record.status is KycStatus.COMPLETE and record.bank_account == "50100234567812"
    assert record.kyc_date is not None and record.updated_at.tzinfo is not None
    assert set(kyc.get_records(["1019990020", "1019990053", "1019999992", "bad"])) == {
        "1019990020",
        "1019990053",
    }
    assert [r.consumer_number for r in kyc.records_by_samagra("900000021")] == ["1019990020", "1019990038"]
    assert kyc.records_by_samagra("12") == []
    with pytest.raises(NotFound):
        kyc.get_record("1019999992")
    assert set(fake[1].auth) == {"Bearer k-123"}


def test_ekyc_accepts_and_refuses_and_ignores_unknown_fields(kyc: RestKyc) -> None:
    outcome = kyc.submit_ekyc("1019990053", "900000041", "9999000041")
    assert outcome.accepted and outcome.record is not None
    assert outcome.record.status is KycStatus.COMPLETE
    assert "aadhaar" not in repr(outcome.record) and "999988887777" not in repr(outcome.record)
    assert kyc.submit_ekyc("1019990020", "900000099").refusal is EkycRefusal.SAMAGRA_MISMATCH
    assert kyc.submit_ekyc("1019999992", "900000041").refusal is EkycRefusal.UNKNOWN_CONSUMER
    with pytest.raises(ConnectorRejected):
        kyc.submit_ekyc("1019990053", "900000041", "123")


def test_sync_by_change_feed(kyc: RestKyc) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = kyc.changes_since(cursor, limit=2)
        if not page.records:
            break
        seen.extend(r.consumer_number for r in page.records)
        cursor = page.next_cursor
    assert seen == ["1019990020", "1019990038", "1019990053"]
    kyc.submit_ekyc("1019990053", "900000041")
    page = kyc.changes_since(cursor)
    # The cursor picks up exactly the new change (no full pull).
    assert [(r.consumer_number, r.status) for r in page.records] == [("1019990053", KycStatus.COMPLETE)]
    with pytest.raises(ConnectorRejected) as caught:
        kyc.changes_since("zz")
    assert caught.value.code == "invalid_cursor"
    with pytest.raises(ConnectorRejected):
        kyc.changes_since("has spaces")


def test_slow_answers_time_out(kyc: RestKyc, fake: tuple[FakeServer, FakeKyc]) -> None:
    server, _ = fake
    server.mode = "slow"
    server.slow_seconds = 10
    started = time.monotonic()
    with pytest.raises(ConnectorUnavailable, match="timed out"):
        kyc.get_record("1019990020")
    assert time.monotonic() - started < 9  # did not wait for the server


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_errors_and_garbage_are_unavailable(
    kyc: RestKyc, fake: tuple[FakeServer, FakeKyc], mode: str
) -> None:
    fake[0].mode = mode
    with pytest.raises(ConnectorUnavailable):
        kyc.heartbeat()
    with pytest.raises(ConnectorUnavailable):
        kyc.get_records(["1019990020"])


@pytest.mark.parametrize(
    "answer",
    [
        {"record": _record("1019990020", status="done")},
        {"record": _record("1019990020", mobile="12345")},
        {"record": _record("1019990020", updated_at="2026-10-02T06:30:00")},  # no zone
        {"record": _record("1019990038")},  # another connection's record
        {"record": "yes"},
        {"records": "all"},
    ],
)
def test_answers_that_break_the_contract_are_unavailable(
    kyc: RestKyc, fake: tuple[FakeServer, FakeKyc], answer: dict[str, Any]
) -> None:
    fake[1].override = json.loads(json.dumps(answer))
    with pytest.raises(ConnectorUnavailable):
        kyc.get_record("1019990020")


def test_connection_refused_is_unavailable() -> None:
    kyc = _client(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ConnectorUnavailable):
        kyc.heartbeat()
    with pytest.raises(ConnectorUnavailable):
        kyc.submit_ekyc("1019990053", "900000041")
