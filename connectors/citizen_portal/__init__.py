"""The state's citizen-services portal: its daily settlement statement for the discom.

Payments made on the portal reach the hub one by one as payment advices (the ``portal`` channel,
hub/bills, over REST or SOAP). Once an India day has ended the portal publishes the department's
settlement statement for it, as JSON pages::

    {"dept_code": "MPCZ", "date": "23-11-2026", "page": 1, "pages": 3,
     "total_records": 1204, "total_amount_paise": 183530000,
     "records": [{"cs_txn_no": "CS2611230000123", "ivrs_no": "1001234567", "bill_no": "B-1001",
                  "amount_paise": 183000, "txn_datetime": "2026-11-23T10:15:02+05:30",
                  "status": "SUCCESS"}, ...]}

``status`` is ``SUCCESS`` (settled to the discom) or ``REFUNDED`` (returned to the citizen): only
``SUCCESS`` records are settlement. ``total_records`` counts every record of the day and
``total_amount_paise`` totals the successful ones; both are the same on every page.

:func:`read_statement` turns the pages into the hub's settlement report
(:mod:`connectors.settlement`). A statement that is not this (a page out of order, a record that
does not parse, another department's or another day's, totals that differ between pages or do not
add up) is ConnectorUnavailable: the day is asked again later, never half reconciled.

Settings (under ``hub.citizen_portal.``)::

    backend = connectors.citizen_portal.reference:ReferencePortal   (or ...client:HttpPortal)
    dept_code = MPCZ        the discom's department code on the portal
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

from connectors.errors import ConnectorUnavailable
from connectors.settlement import IST, SETTLEMENT_HEADER, settlement_line

SYSTEM = "citizen_portal"
DEFAULT_DEPT_CODE = "MPCZ"
STATUSES = ("SUCCESS", "REFUNDED")
MAX_PAGES = 10_000  # 5,000,000 records at the portal's 500 a page: more is a portal gone wrong
_TXN = re.compile(r"[A-Z0-9]{6,30}")
_CONSUMER = re.compile(r"[0-9]{10,12}")
_BILL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")
RECORD_FIELDS = frozenset(("cs_txn_no", "ivrs_no", "bill_no", "amount_paise", "txn_datetime", "status"))


def statement_date(day: date) -> str:
    """The portal's way of writing a day."""
    return day.strftime("%d-%m-%Y")


def read_statement(
    fetch_page: Callable[[int], Mapping[str, Any]], day: date, dept_code: str
) -> Iterator[str]:
    """The settlement report of ``day`` from the statement's pages, fetched one after the other."""
    yield SETTLEMENT_HEADER
    records = 0
    settled = 0
    totals: tuple[int, int] | None = None
    page = 1
    pages = 1
    while page <= pages:
        body = fetch_page(page)
        if body.get("dept_code") != dept_code or body.get("date") != statement_date(day):
            raise _garbage(f"page {page} is another department's or another day's")
        if body.get("page") != page:
            raise _garbage(f"asked for page {page}, got {str(body.get('page'))[:20]}")
        pages = _count(body, "pages")
        if not 1 <= pages <= MAX_PAGES:
            raise _garbage(f"{pages} pages")
        page_totals = (_count(body, "total_records"), _count(body, "total_amount_paise"))
        if totals is not None and page_totals != totals:
            raise _garbage(f"page {page} gives other totals than page 1")
        totals = page_totals
        rows = body.get("records")
        if not isinstance(rows, list):
            raise _garbage(f"page {page} has no records list")
        for index, row in enumerate(rows):
            txn, paise, status = _record(row, f"page {page} record {index + 1}", day)
            records += 1
            if status == "SUCCESS":
                settled += paise
                yield settlement_line(txn, paise, day)
        page += 1
    assert totals is not None
    if totals != (records, settled):
        raise _garbage(
            f"the totals say {totals[0]} records, {totals[1]} paise settled; the pages hold {records}, {settled}"
        )


def _count(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if type(value) is not int or value < 0:
        raise _garbage(f"{name} is not a count")
    return value


def _record(row: Any, where: str, day: date) -> tuple[str, int, str]:
    if not isinstance(row, dict) or set(row) != RECORD_FIELDS:
        raise _garbage(f"{where} does not have the record's fields")
    txn, consumer, bill = row["cs_txn_no"], row["ivrs_no"], row["bill_no"]
    if not all(isinstance(v, str) for v in (txn, consumer, bill)) or not _TXN.fullmatch(txn):
        raise _garbage(f"{where}: cs_txn_no is not a portal transaction number")
    if not _CONSUMER.fullmatch(consumer) or not _BILL.fullmatch(bill):
        raise _garbage(f"{where}: ivrs_no or bill_no malformed")
    paise = row["amount_paise"]
    if type(paise) is not int or not 0 < paise < 10**12:
        raise _garbage(f"{where}: amount_paise is not a whole positive number of paise")
    if row["status"] not in STATUSES:
        raise _garbage(f"{where}: unknown status")
    try:
        at = datetime.fromisoformat(str(row["txn_datetime"]))
    except ValueError:
        raise _garbage(f"{where}: txn_datetime is not an ISO 8601 time") from None
    if at.tzinfo is None or at.astimezone(IST).date() != day:
        raise _garbage(f"{where}: not a transaction of {day} (India time)")
    return txn, paise, str(row["status"])


def _garbage(why: str) -> ConnectorUnavailable:
    return ConnectorUnavailable(f"{SYSTEM}: settlement statement unusable: {why}", system=SYSTEM)
