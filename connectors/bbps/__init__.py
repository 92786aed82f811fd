"""The bill-payment platform (BBPS, through the discom's operating unit): its daily reconciliation file.

Payments made on the platform reach the hub one by one as notifications (the ``bbps`` channel,
hub/bills). Once a day has ended the operating unit publishes the biller's reconciliation file
for it: every transaction of that India day, pipe-separated, amounts in paise, with a trailer
that counts the records and totals the successful amounts, so a file cut short is seen::

    TXN_REF_ID|BILLER_ID|CONSUMER_NO|BILL_NO|AMOUNT_PAISE|TXN_DATE_TIME|STATUS|PAYMENT_CHANNEL
    CC0126112300000001|MPCZ00000MAP01|1001234567|B-2026-11-1001|183000|23-11-2026 10:15:02|SUCCESS|MOB
    CC0126112300000002|MPCZ00000MAP01|1001234568|B-2026-11-1002|45000|23-11-2026 11:40:55|REVERSED|INT
    TRAILER|2|183000

``STATUS`` is ``SUCCESS`` (settled to the discom), ``FAILED`` or ``REVERSED`` (refunded to the
payer): only ``SUCCESS`` lines are settlement. ``TXN_DATE_TIME`` is India time.

:func:`read_recon_file` turns the file into the hub's settlement report
(:mod:`connectors.settlement`). A file that is not this (another header, a record that does
not parse, another biller's or another day's record, a missing trailer or one that does not
add up) is ConnectorUnavailable: the day is asked again later, never half reconciled.

Settings (under ``hub.bbps.``)::

    backend = connectors.bbps.reference:ReferenceBbps   (or connectors.bbps.client:HttpBbps)
    biller_id = MPCZ00000MAP01     the discom's biller id on the platform
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from connectors.errors import ConnectorUnavailable
from connectors.settlement import IST, SETTLEMENT_HEADER, settlement_line

SYSTEM = "bbps"
RECON_HEADER = "TXN_REF_ID|BILLER_ID|CONSUMER_NO|BILL_NO|AMOUNT_PAISE|TXN_DATE_TIME|STATUS|PAYMENT_CHANNEL"
STATUSES = ("SUCCESS", "FAILED", "REVERSED")
CHANNELS = ("INT", "MOB", "AGT", "BNR", "ATM", "KIOSK", "POS", "UPI")
DATE_TIME_FORMAT = "%d-%m-%Y %H:%M:%S"
DEFAULT_BILLER_ID = "MPCZ00000MAP01"
_TXN = re.compile(r"[A-Z0-9]{1,35}")
_BILLER = re.compile(r"[A-Z0-9]{14}")
_CONSUMER = re.compile(r"[0-9]{10,12}")
_BILL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,63}")
_PAISE = re.compile(r"[1-9][0-9]{0,11}")


def recon_line(
    txn_ref_id: str,
    biller_id: str,
    consumer_number: str,
    bill_number: str,
    paise: int,
    at: datetime,
    status: str,
    payment_channel: str,
) -> str:
    """One record of the file, as the operating unit writes it."""
    stamp = at.astimezone(IST).strftime(DATE_TIME_FORMAT)
    return (
        f"{txn_ref_id}|{biller_id}|{consumer_number}|{bill_number}|{paise}|{stamp}|{status}|{payment_channel}"
    )


def trailer_line(records: int, success_paise: int) -> str:
    return f"TRAILER|{records}|{success_paise}"


def read_recon_file(lines: Iterable[str], day: date, biller_id: str) -> Iterator[str]:
    """The settlement report of ``day`` from the file's lines (line ends already stripped)."""
    records = 0
    settled = 0
    trailer: tuple[int, int] | None = None
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip("\r\n")
        if not header_seen:
            if line.lstrip("\ufeff") != RECON_HEADER:
                raise _garbage("line 1 is not the reconciliation file's header")
            header_seen = True
            yield SETTLEMENT_HEADER
            continue
        if trailer is not None:
            if line.strip():
                raise _garbage(f"line {number} follows the trailer")
            continue
        fields = line.split("|")
        if fields[0] == "TRAILER":
            trailer = _trailer(fields, number)
            continue
        txn, paise, status = _record(fields, number, day, biller_id)
        records += 1
        if status == "SUCCESS":
            settled += paise
            yield settlement_line(txn, paise, day)
    if not header_seen:
        raise _garbage("the file is empty")
    if trailer is None:
        raise _garbage("the file has no trailer: cut short")
    if trailer != (records, settled):
        raise _garbage(
            f"the trailer says {trailer[0]} records, {trailer[1]} paise settled; "
            f"the file holds {records}, {settled}"
        )


def _record(fields: list[str], number: int, day: date, biller_id: str) -> tuple[str, int, str]:
    if len(fields) != 8:
        raise _garbage(f"line {number} has {len(fields)} fields, not 8")
    txn, biller, consumer, bill, paise, stamp, status, channel = fields
    if not _TXN.fullmatch(txn):
        raise _garbage(f"line {number}: TXN_REF_ID is not a transaction reference")
    if not _BILLER.fullmatch(biller) or biller != biller_id:
        raise _garbage(f"line {number}: a record for biller {biller[:20]!r}, not {biller_id}")
    if not _CONSUMER.fullmatch(consumer) or not _BILL.fullmatch(bill):
        raise _garbage(f"line {number}: CONSUMER_NO or BILL_NO malformed")
    if not _PAISE.fullmatch(paise):
        raise _garbage(f"line {number}: AMOUNT_PAISE is not a whole number of paise")
    if status not in STATUSES or channel not in CHANNELS:
        raise _garbage(f"line {number}: unknown STATUS or PAYMENT_CHANNEL")
    try:
        at = datetime.strptime(stamp, DATE_TIME_FORMAT)
    except ValueError:
        raise _garbage(f"line {number}: TXN_DATE_TIME is not dd-mm-yyyy HH:MM:SS") from None
    if at.date() != day:
        raise _garbage(f"line {number}: a transaction of {at.date()}, not of {day}")
    return txn, int(paise), status


def _trailer(fields: list[str], number: int) -> tuple[int, int]:
    if len(fields) != 3 or not all(f.isdigit() and f.isascii() for f in fields[1:]):
        raise _garbage(f"line {number}: a trailer is TRAILER|records|paise")
    return int(fields[1]), int(fields[2])


def _garbage(why: str) -> ConnectorUnavailable:
    return ConnectorUnavailable(f"{SYSTEM}: reconciliation file unusable: {why}", system=SYSTEM)
