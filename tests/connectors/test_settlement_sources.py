"""The bill-payment platform's reconciliation file and the citizen-services portal's settlement
statement: the reference systems on SQLite/PostgreSQL, each format's checks, and the real clients
against local fake servers serving what the reference systems make."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.engine import Engine

from connectors.bbps import RECON_HEADER, read_recon_file, recon_line, trailer_line
from connectors.bbps.client import HttpBbps
from connectors.bbps.reference import ReferenceBbps
from connectors.citizen_portal import read_statement
from connectors.citizen_portal.client import HttpPortal
from connectors.citizen_portal.reference import ReferencePortal
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.reference_db import set_down
from connectors.settlement import IST, SETTLEMENT_HEADER
from tests.connectors.fakehttp import FakeRequest, FakeResponse, FakeServer
from tests.connectors.messaging_fixtures import FAILURE_MODES, http_context, ref_context, ref_engine

__all__ = ["ref_engine"]

DAY = date(2026, 11, 23)
AFTER = datetime(2026, 11, 24, 0, 1, tzinfo=IST)
BILLER = "MPCZ00000MAP01"


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


# -- the bill-payment platform -----------------------------------------------------------------
def _platform_day(platform: ReferenceBbps) -> dict[str, str]:
    return {
        "settled": platform.pay("1001234567", "B-2026-11-1001", Decimal("1830.00"), at=at(0, 5)),
        "late": platform.pay("1001234568", "B-2026-11-1002", Decimal("99.50"), at=at(23, 59)),
        "failed": platform.pay("1001234569", "B-2026-11-1003", Decimal("10.00"), at=at(10), status="FAILED"),
        "reversed": platform.pay("1001234570", "B-2026-11-1004", Decimal("450.00"), at=at(11)),
        "next_day": platform.pay(
            "1001234571", "B-2026-11-1005", Decimal("10.00"), at=at(0, 0, date(2026, 11, 24))
        ),
    }


def test_reference_platform_files_the_day_once_it_is_over(ref_engine: Engine) -> None:
    platform = ReferenceBbps.from_context(ref_context("bbps", ref_engine))
    txns = _platform_day(platform)
    platform.reverse(txns["reversed"])
    file = list(platform.recon_file(DAY, now=AFTER))
    assert file[0] == RECON_HEADER and file[-1] == "TRAILER|4|192950"
    assert len(file) == 6  # the next day's payment is not in it
    assert (
        f"{txns['reversed']}|{BILLER}|1001234570|B-2026-11-1004|45000|23-11-2026 11:00:00|REVERSED|MOB"
        in file
    )
    assert list(platform.settlement_report(DAY, now=AFTER)) == [
        SETTLEMENT_HEADER,
        f"{txns['settled']},1830.00,2026-11-23",
        f"{txns['late']},99.50,2026-11-23",
    ]
    # The notification the platform sends the hub carries the same transaction.
    assert platform.notification(txns["settled"]) == {
        "transaction_id": txns["settled"],
        "receipt_id": platform.notification(txns["settled"])["receipt_id"],
        "consumer_number": "1001234567",
        "bill_number": "B-2026-11-1001",
        "amount": "1830.00",
        "paid_at": "2026-11-23T00:05:00+05:30",
    }
    with pytest.raises(ConnectorUnavailable, match="not ready"):
        list(platform.settlement_report(DAY, now=at(23, 59)))
    platform.settlement_delay = timedelta(hours=6)  # the operating unit publishes late today
    with pytest.raises(ConnectorUnavailable, match="not ready"):
        list(platform.settlement_report(DAY, now=AFTER))
    set_down(ref_engine, "bbps")
    with pytest.raises(ConnectorUnavailable):
        list(platform.settlement_report(DAY, now=AFTER + timedelta(hours=6)))
    with pytest.raises(NotFound):
        platform.reverse("CC01NOSUCHTXN")


GOOD = [
    RECON_HEADER,
    recon_line("CC0126112300000001", BILLER, "1001234567", "B-1", 183000, at(10), "SUCCESS", "MOB"),
    recon_line("CC0126112300000002", BILLER, "1001234568", "B-2", 45000, at(11), "REVERSED", "INT"),
    trailer_line(2, 183000),
]


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([], "empty"),
        (["TXN|BILLER"] + GOOD[1:], "header"),
        (GOOD[:-1], "cut short"),
        (GOOD[:-1] + [trailer_line(3, 183000)], "trailer says 3"),
        (GOOD[:-1] + [trailer_line(2, 228000)], "228000 paise"),
        (GOOD + ["CC0126112300000003|x"], "follows the trailer"),
        ([GOOD[0], GOOD[1].replace(BILLER, "MPWZ00000MAP01"), GOOD[3]], "biller"),
        ([GOOD[0], GOOD[1].replace("23-11-2026", "22-11-2026"), GOOD[3]], "not of 2026-11-23"),
        ([GOOD[0], GOOD[1].replace("|183000|", "|1830.00|"), GOOD[3]], "whole number of paise"),
        ([GOOD[0], GOOD[1].replace("|183000|", "|-183000|"), GOOD[3]], "whole number of paise"),
        ([GOOD[0], GOOD[1].replace("SUCCESS", "PENDING"), GOOD[3]], "unknown STATUS"),
        ([GOOD[0], GOOD[1] + "|extra", GOOD[3]], "9 fields"),
        ([GOOD[0], GOOD[1].replace("1001234567", "१००१२३४५६७"), GOOD[3]], "CONSUMER_NO"),
        ([GOOD[0], GOOD[1].replace("10:00:00", "10:00"), GOOD[3]], "TXN_DATE_TIME"),
        ([GOOD[0], GOOD[1], GOOD[2], "TRAILER|2|1,83,000"], "TRAILER\\|records\\|paise"),
    ],
)
def test_a_file_that_does_not_add_up_is_refused_whole(lines: list[str], why: str) -> None:
    assert list(read_recon_file(GOOD, DAY, BILLER))[1:] == ["CC0126112300000001,1830.00,2026-11-23"]
    with pytest.raises(ConnectorUnavailable, match=why):
        list(read_recon_file(lines, DAY, BILLER))


def operating_unit(platform: ReferenceBbps) -> Callable[[FakeRequest], FakeResponse]:
    """The operating unit's biller API, serving the reference platform's files."""

    def handler(request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != "Basic TVBDWjAwMDAwTUFQMDE6a2V5":  # biller id:key
            return FakeResponse.json(401, {"error": "unauthorized"})
        if request.path == "/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        prefix = f"/v1/billers/{BILLER}/recon/"
        if not request.path.startswith(prefix):
            return FakeResponse.json(404, {"error": "no_route"})
        day = datetime.strptime(request.path[len(prefix) :], "%Y%m%d").date()
        try:
            lines = list(platform.recon_file(day, now=AFTER))
        except ConnectorUnavailable:
            return FakeResponse.json(404, {"error": "recon_not_ready"})
        body = "".join(line + "\r\n" for line in lines).encode()
        return FakeResponse(200, body, {"Content-Type": "text/plain; charset=utf-8"})

    return handler


def bbps_client(server: FakeServer, **options: str) -> HttpBbps:
    return HttpBbps.from_context(http_context("bbps", server.url, biller_id=BILLER, key="key", **options))


def test_client_reads_the_file_the_reference_platform_makes(ref_engine: Engine) -> None:
    platform = ReferenceBbps.from_context(ref_context("bbps", ref_engine))
    txns = _platform_day(platform)
    platform.reverse(txns["reversed"])
    with FakeServer(operating_unit(platform)) as server:
        client = bbps_client(server)
        client.heartbeat()
        assert list(client.settlement_report(DAY)) == list(platform.settlement_report(DAY, now=AFTER))
        with pytest.raises(ConnectorUnavailable, match="not ready"):
            list(client.settlement_report(date(2026, 11, 24)))
        # Wrong credentials are the operator's to fix: unavailable, never "settled nothing".
        with pytest.raises(ConnectorUnavailable):
            list(HttpBbps.from_context(http_context("bbps", server.url, key="wrong")).settlement_report(DAY))
        # A file cut off in transit (no trailer) is refused whole.
        server.handler = lambda request: FakeResponse(
            200, "\r\n".join(GOOD[:-1]).encode(), {"Content-Type": "text/plain"}
        )
        with pytest.raises(ConnectorUnavailable, match="cut short"):
            list(client.settlement_report(DAY))


@pytest.mark.parametrize("mode", [*FAILURE_MODES, "csv", "trickle_body"])
def test_client_file_failures_are_unavailable(mode: str) -> None:
    lines = GOOD[:-1] + [
        recon_line(f"CC01261123{n:08d}", BILLER, "1001234567", "B-1", 100, at(12), "SUCCESS", "MOB")
        for n in range(3, 40)
    ]
    lines.append(trailer_line(len(lines) - 1, 183000 + 37 * 100))
    body = "".join(line + "\r\n" for line in lines).encode()
    with FakeServer(lambda request: FakeResponse(200, body, {"Content-Type": "text/plain"})) as server:
        assert len(list(bbps_client(server).settlement_report(DAY))) == 39
        if mode == "refused":
            server.down()
        elif mode == "csv":
            server.handler = lambda request: FakeResponse(200, body, {"Content-Type": "text/csv"})
        else:
            server.mode = mode
            server.trickle_seconds = 0.02
        client = bbps_client(server, settlement_timeout="0.5")
        with pytest.raises(ConnectorUnavailable):
            list(client.settlement_report(DAY))


# -- the citizen-services portal ---------------------------------------------------------------
def _portal_day(portal: ReferencePortal) -> dict[str, str]:
    return {
        "first": portal.pay("1001234567", "B-2026-11-1001", Decimal("1830.00"), at=at(0, 0)),
        "second": portal.pay("1001234568", "B-2026-11-1002", Decimal("4572.50"), at=at(9, 30)),
        "refunded": portal.pay("1001234569", "B-2026-11-1003", Decimal("10.00"), at=at(12)),
        "last": portal.pay("1001234570", "B-2026-11-1004", Decimal("0.01"), at=at(23, 59)),
        "next_day": portal.pay(
            "1001234571", "B-2026-11-1005", Decimal("5.00"), at=at(0, 0, date(2026, 11, 24))
        ),
    }


def test_reference_portal_pages_the_days_statement(ref_engine: Engine) -> None:
    portal = ReferencePortal.from_context(ref_context("citizen_portal", ref_engine, page_size="3"))
    txns = _portal_day(portal)
    portal.refund(txns["refunded"])
    first = portal.statement_page(DAY, 1, now=AFTER)
    assert {k: v for k, v in first.items() if k != "records"} == {
        "dept_code": "MPCZ",
        "date": "23-11-2026",
        "page": 1,
        "pages": 2,
        "total_records": 4,
        "total_amount_paise": 183000 + 457250 + 1,
    }
    assert [r["cs_txn_no"] for r in first["records"]] == [txns["first"], txns["second"], txns["refunded"]]
    assert first["records"][2]["status"] == "REFUNDED"
    assert [r["cs_txn_no"] for r in portal.statement_page(DAY, 2, now=AFTER)["records"]] == [txns["last"]]
    with pytest.raises(NotFound):
        portal.statement_page(DAY, 3, now=AFTER)
    assert list(portal.settlement_report(DAY, now=AFTER)) == [
        SETTLEMENT_HEADER,
        f"{txns['first']},1830.00,2026-11-23",
        f"{txns['second']},4572.50,2026-11-23",
        f"{txns['last']},0.01,2026-11-23",
    ]
    assert portal.advice(txns["second"]) == {
        "cs_txn_no": txns["second"],
        "ivrs_no": "1001234568",
        "bill_no": "B-2026-11-1002",
        "amount_paise": 457250,
        "txn_datetime": "2026-11-23T09:30:00+05:30",
    }
    # A day with no payment is one empty page: settled, nothing in it.
    assert list(portal.settlement_report(date(2026, 11, 20), now=AFTER)) == [SETTLEMENT_HEADER]
    with pytest.raises(ConnectorUnavailable, match="not ready"):
        portal.statement_page(DAY, 1, now=at(23, 59))
    set_down(ref_engine, "citizen_portal")
    with pytest.raises(ConnectorUnavailable):
        list(portal.settlement_report(DAY, now=AFTER))


def _pages(*records: list[dict[str, Any]], settled: int | None = None) -> list[dict[str, Any]]:
    everything = [r for page in records for r in page]
    total = sum(int(r["amount_paise"]) for r in everything if r["status"] == "SUCCESS")
    return [
        {
            "dept_code": "MPCZ",
            "date": "23-11-2026",
            "page": n,
            "pages": len(records),
            "total_records": len(everything),
            "total_amount_paise": total if settled is None else settled,
            "records": page,
        }
        for n, page in enumerate(records, start=1)
    ]


def _record(
    txn: str, paise: int = 183000, status: str = "SUCCESS", when: str = "2026-11-23T10:00:00+05:30"
) -> dict[str, Any]:
    return {
        "cs_txn_no": txn,
        "ivrs_no": "1001234567",
        "bill_no": "B-1",
        "amount_paise": paise,
        "txn_datetime": when,
        "status": status,
    }


def _edit(statement: list[dict[str, Any]], number: int, **changes: Any) -> list[dict[str, Any]]:
    statement[number - 1] = {**statement[number - 1], **changes}
    return statement


@pytest.mark.parametrize(
    ("pages", "why"),
    [
        (_pages([_record("CS1001")], [_record("CS1002")], settled=1), "totals say"),
        (_edit(_pages([_record("CS1001")], [_record("CS1002")]), 2, page=1), "asked for page 2"),
        (_edit(_pages([_record("CS1001")], [_record("CS1002")]), 2, total_records=9), "other totals"),
        (_edit(_pages([_record("CS1001")]), 1, date="22-11-2026"), "another day"),
        (_edit(_pages([_record("CS1001")]), 1, dept_code="MPWZ"), "another department"),
        (_edit(_pages([_record("CS1001")]), 1, pages=0), "0 pages"),
        (_edit(_pages([_record("CS1001")]), 1, pages=True), "pages is not a count"),
        (_edit(_pages([_record("CS1001")]), 1, records={}), "no records list"),
        (_pages([{**_record("CS1001"), "amount_paise": 1830.0}]), "whole positive"),
        (_pages([{**_record("CS1001"), "amount_paise": "183000"}]), "whole positive"),
        (_pages([{**_record("CS1001"), "extra": 1}]), "fields"),
        (_pages([_record("CS1001", status="PENDING")]), "unknown status"),
        (_pages([_record("CS1001", when="2026-11-23T10:00:00")]), "India time"),
        (_pages([_record("CS1001", when="2026-11-23T20:00:00+00:00")]), "India time"),  # the 24th in India
        (_pages([_record("सीएस1001")]), "cs_txn_no"),
    ],
)
def test_a_statement_that_does_not_add_up_is_refused_whole(pages: list[dict[str, Any]], why: str) -> None:
    good = _pages([_record("CS1001"), _record("CS1003", 500, "REFUNDED")], [_record("CS1002", 1)])
    assert list(read_statement(lambda n: good[n - 1], DAY, "MPCZ"))[1:] == [
        "CS1001,1830.00,2026-11-23",
        "CS1002,0.01,2026-11-23",
    ]
    with pytest.raises(ConnectorUnavailable, match=why):
        list(read_statement(lambda n: pages[n - 1], DAY, "MPCZ"))


def portal_server(portal: ReferencePortal) -> Callable[[FakeRequest], FakeResponse]:
    """The portal's department API, serving the reference portal's statement."""

    def handler(request: FakeRequest) -> FakeResponse:
        if request.headers.get("x-api-key") != "portal-key":
            return FakeResponse.json(401, {"error": "unauthorized"})
        url = urlsplit(request.path)
        if url.path == "/api/v1/health":
            return FakeResponse.json(200, {"status": "ok"})
        if url.path != "/api/v1/departments/MPCZ/settlement":
            return FakeResponse.json(404, {"error": "no_route"})
        query = parse_qs(url.query)
        day = datetime.strptime(query["date"][0], "%d-%m-%Y").date()
        try:
            page = portal.statement_page(day, int(query["page"][0]), now=AFTER)
        except (ConnectorUnavailable, NotFound):
            return FakeResponse.json(404, {"error": "not_ready"})
        return FakeResponse.json(200, page)

    return handler


def portal_client(server: FakeServer, **options: str) -> HttpPortal:
    return HttpPortal.from_context(
        http_context("citizen_portal", server.url, **{"dept_code": "MPCZ", "key": "portal-key", **options})
    )


def test_client_walks_the_statement_the_reference_portal_pages(ref_engine: Engine) -> None:
    portal = ReferencePortal.from_context(ref_context("citizen_portal", ref_engine, page_size="2"))
    txns = _portal_day(portal)
    portal.refund(txns["refunded"])
    with FakeServer(portal_server(portal)) as server:
        client = portal_client(server)
        client.heartbeat()
        assert list(client.settlement_report(DAY)) == list(portal.settlement_report(DAY, now=AFTER))
        assert [r.path.split("page=")[1] for r in server.requests if "settlement" in r.path] == ["1", "2"]
        with pytest.raises(ConnectorUnavailable, match="not ready"):
            list(client.settlement_report(date(2026, 11, 24)))
        with pytest.raises(ConnectorUnavailable):
            list(portal_client(server, key="wrong").settlement_report(DAY))


@pytest.mark.parametrize("mode", [*FAILURE_MODES, "html", "slow_pages"])
def test_client_statement_failures_are_unavailable(mode: str) -> None:
    pages = _pages(*[[_record(f"CS{n:06d}")] for n in range(1, 6)])

    def handler(request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(200, pages[int(parse_qs(urlsplit(request.path).query)["page"][0]) - 1])

    with FakeServer(handler) as server:
        assert len(list(portal_client(server).settlement_report(DAY))) == 6
        client = portal_client(server)
        if mode == "refused":
            server.down()
        elif mode == "html":
            server.handler = lambda request: FakeResponse(
                200, b"<html>maintenance</html>", {"Content-Type": "text/html"}
            )
        elif mode == "slow_pages":
            # Each page well inside the read timeout, the whole statement past its deadline.
            server.mode = "slow"
            server.slow_seconds = 0.2
            client = portal_client(server, read_timeout="1", settlement_timeout="0.5")
        else:
            server.mode = mode
        with pytest.raises(ConnectorUnavailable):
            list(client.settlement_report(DAY))


def test_client_refuses_a_line_with_no_end_in_sight() -> None:
    # A partner gone wrong streams one endless line: refused before it grows without bound.
    endless = (RECON_HEADER + "\r\n" + "CC01" * 40_000).encode()
    with FakeServer(lambda request: FakeResponse(200, endless, {"Content-Type": "text/plain"})) as server:
        with pytest.raises(ConnectorUnavailable, match="line too long"):
            list(bbps_client(server).settlement_report(DAY))
