"""Releasing KYC to DBT clients: batch lookups, the change feed, streamed exports, and the disclosure log.

What leaves = the fields the client's policy allows for the purpose, of
people whose consent for that purpose is live *now* (checked in the same
query or transaction that reads the records). Everything released is a
``kyc.disclosed`` entry in the hash-chained audit log, subject
``kyc_person/<Samagra ID>``, one per record, written per batch or chunk with
:func:`hub.audit.appending_series` (rendered once, hashed per entry, COPY on
PostgreSQL).

Streaming exports and their audit entries (the choice, and why)
---------------------------------------------------------------
pyramid_tm commits the request's transaction when the view returns, before
the WSGI server iterates the body. An export therefore does not use the
request's transaction at all: :class:`ExportStream` reads the records in
chunks of ``chunk_size`` by keyset (``kyc_records.id > last``, consent
checked in the same SELECT), and for each chunk, in its own short
transaction, appends the chunk's disclosure entries, COMMITs, and only then
yields the chunk's bytes. So a chunk's disclosures are durable before its
first byte leaves; if the client drops mid-chunk the log may name records of
that chunk the client never received (over-reporting), but never misses one
it did, and never names a record of a chunk that was not produced.
Per-chunk transactions also keep the audit chain lock and a pooled
connection for milliseconds, not for the whole (client-paced) download, and
memory stays constant: a chunk or two of rows at a time, no server-side
cursor held open across a slow client. A dropped export resumes from the
last checkpoint cursor the client saw.

Where an export's time goes, and the overlaps that keep it near a bare fetch
(bench/bench_kyc.py): PostgreSQL inserting the disclosure entries is the
largest part, so the chunk's body is rendered while PostgreSQL inserts them
(the COPY is completed after rendering; a chunk that fails to render aborts
it, and nothing of the chunk is logged or sent), and the next chunk's SELECT
runs in a helper thread meanwhile. Reading ahead releases nothing: a chunk
read but never produced (the client left) is never logged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.engine import Engine, Row, RowMapping
from sqlalchemy.orm import Session

from hub import audit
from hub.crypto import SecretBox
from hub.kyc.consent import consented_people, live_consent
from hub.kyc.cursor import CursorSigner, Position
from hub.kyc.policy import FieldPolicy, Projector
from hub.models.audit import AuditEntry
from hub.models.client import PartnerClient
from hub.models.kyc import ConnectionKyc, KycChange
from hub.models.meta import utcnow

RECORDS = cast(Table, ConnectionKyc.__table__)
CHANGES = cast(Table, KycChange.__table__)
_COLUMNS = (
    RECORDS.c.id,
    RECORDS.c.consumer_number,
    RECORDS.c.holder_name_en,
    RECORDS.c.holder_name_hi,
    RECORDS.c.samagra_id,
    RECORDS.c.mobile,
    RECORDS.c.bank_account_enc,
    RECORDS.c.bank_account_last4,
    RECORDS.c.ifsc,
    RECORDS.c.status,
    RECORDS.c.kyc_date,
)
DISCLOSED = "kyc.disclosed"
PERSON = "kyc_person"
RECORD_EVENTS = ("kyc_new", "kyc_updated", "bank_account_changed")
CONSENT_EVENTS = ("consent_given", "consent_withdrawn")

# Item answers of getKycRecords.
FOUND = "found"
UNKNOWN = "unknown"
NO_CONSENT = "no_consent"
NOT_AVAILABLE = "not_available"  # unknown and no consent, when the policy says they must look alike


@dataclass(frozen=True)
class Requester:
    client_id: str
    purpose: str
    operation: str
    request_id: str | None = None


class Disclosures:
    """Collects one entry per record released in one batch, then writes them as one audit series.

    Every entry of a batch shares client, purpose, fields, operation and time;
    only the person (subject) and the consumer number differ, which is what
    :func:`hub.audit.record_series` is for.
    """

    def __init__(self, requester: Requester, policy: FieldPolicy, at: datetime) -> None:
        self._actor = f"client:{requester.client_id}"
        self._at = at
        self._data: dict[str, Any] = {
            "purpose": requester.purpose,
            "fields": policy.disclosed_fields(),
            "via": requester.operation,
        }
        if requester.request_id:
            self._data["request_id"] = requester.request_id
        self._items: list[tuple[str, str]] = []
        self._seen: set[str] = set()

    def add(self, samagra_id: str, consumer_number: str) -> None:
        if consumer_number in self._seen:
            return  # asked twice in one request (by number and by Samagra ID): released once
        self._seen.add(consumer_number)
        self._items.append((samagra_id, consumer_number))

    def __len__(self) -> int:
        return len(self._items)

    def write(self, session: Session) -> None:
        with self.writing(session):
            pass

    @contextmanager
    def writing(self, session: Session) -> Iterator[None]:
        """Write the entries; the block runs while PostgreSQL inserts them (:func:`hub.audit.appending_series`)."""
        with audit.appending_series(
            session, self._actor, DISCLOSED, PERSON, self._data, "consumer_number", self._items, self._at
        ):
            yield
        self._items = []


@dataclass
class LookupResult:
    items: list[dict[str, Any]]
    asked: int = 0
    absent: int = 0
    released: int = 0


def _rows_by(session: Session, column: Any, values: Sequence[str]) -> list[RowMapping]:
    if not values:
        return []
    return list(session.execute(select(*_COLUMNS).where(column.in_(list(values)))).mappings())


def lookup(
    session: Session,
    box: SecretBox,
    policy: FieldPolicy,
    requester: Requester,
    consumer_numbers: Sequence[str],
    samagra_ids: Sequence[str],
) -> LookupResult:
    """getKycRecords: each asked id answered on its own, in the order asked; disclosures written."""
    now = utcnow()
    by_number = {
        r["consumer_number"]: r for r in _rows_by(session, RECORDS.c.consumer_number, consumer_numbers)
    }
    by_person: dict[str, list[RowMapping]] = {}
    for person_row in _rows_by(session, RECORDS.c.samagra_id, samagra_ids):
        by_person.setdefault(person_row["samagra_id"], []).append(person_row)
    people = {r["samagra_id"] for r in by_number.values() if r["samagra_id"]} | set(by_person)
    consented = consented_people(session, people, policy.purpose, now)
    projector = Projector(policy, box)
    disclosures = Disclosures(requester, policy, now)
    result = LookupResult(items=[], asked=len(consumer_numbers) + len(samagra_ids))

    def absent(status: str) -> str:
        result.absent += 1
        return NOT_AVAILABLE if policy.uniform_absent else status

    for number in consumer_numbers:
        row = by_number.get(number)
        if row is None:
            result.items.append({"consumer_number": number, "status": absent(UNKNOWN)})
        elif row["samagra_id"] not in consented:
            result.items.append({"consumer_number": number, "status": absent(NO_CONSENT)})
        else:
            disclosures.add(row["samagra_id"], row["consumer_number"])
            result.items.append(
                {"consumer_number": number, "status": FOUND, "record": projector.project(row)}
            )
    for person in samagra_ids:
        rows = by_person.get(person)
        if not rows:
            result.items.append({"samagra_id": person, "status": absent(UNKNOWN)})
        elif person not in consented:
            result.items.append({"samagra_id": person, "status": absent(NO_CONSENT)})
        else:
            rows.sort(key=lambda r: r["id"])
            for row in rows:
                disclosures.add(person, row["consumer_number"])
            result.items.append(
                {"samagra_id": person, "status": FOUND, "records": [projector.project(r) for r in rows]}
            )
    result.released = len(disclosures)
    disclosures.write(session)
    return result


@dataclass
class ChangePage:
    events: list[dict[str, Any]] = field(default_factory=list)
    after: int = 0
    has_more: bool = False
    released: int = 0


def changes(
    session: Session,
    box: SecretBox,
    policy: FieldPolicy,
    requester: Requester,
    after: int,
    limit: int,
    max_scan: int,
) -> ChangePage:
    """listKycChanges: the purpose's consent events, and record events of people consenting *now*.

    Scans at most ``max_scan`` feed entries per call (other schemes' events
    are skipped), so one call is bounded however sparse the feed is for this
    client; the cursor still moves past what was scanned.
    """
    now = utcnow()
    page = ChangePage(after=after)
    scanned = 0
    projector = Projector(policy, box)
    disclosures = Disclosures(requester, policy, now)
    while len(page.events) < limit and scanned < max_scan:
        batch = min(max_scan - scanned, max(limit * 2, 100))
        rows = session.execute(
            select(CHANGES).where(CHANGES.c.id > page.after).order_by(CHANGES.c.id).limit(batch)
        ).all()
        if not rows:
            page.has_more = False
            break
        people = {r.samagra_id for r in rows if r.samagra_id and r.kind in RECORD_EVENTS}
        consented = consented_people(session, people, policy.purpose, now)
        numbers = {r.consumer_number for r in rows if r.consumer_number and r.samagra_id in consented}
        current = {
            r["consumer_number"]: r for r in _rows_by(session, RECORDS.c.consumer_number, sorted(numbers))
        }
        exhausted = len(rows) < batch
        stopped_early = False
        for row in rows:
            scanned += 1
            page.after = row.id
            event = _event(row, policy, consented, current, projector, disclosures)
            if event is not None:
                page.events.append(event)
                if len(page.events) >= limit:
                    stopped_early = True
                    break
        page.has_more = not exhausted or stopped_early
        if not page.has_more:
            break
    page.released = len(disclosures)
    disclosures.write(session)
    return page


def _event(
    row: Any,
    policy: FieldPolicy,
    consented: set[str],
    current: dict[str, RowMapping],
    projector: Projector,
    disclosures: Disclosures,
) -> dict[str, Any] | None:
    if row.kind in CONSENT_EVENTS:
        if row.purpose != policy.purpose:
            return None
        return {"kind": row.kind, "at": row.at.isoformat(), "samagra_id": row.samagra_id}
    if row.samagra_id not in consented:
        return None
    event: dict[str, Any] = {"kind": row.kind, "at": row.at.isoformat(), "samagra_id": row.samagra_id}
    record = current.get(row.consumer_number)
    # The record goes with the event only while it still belongs to this person.
    if record is not None and record["samagra_id"] == row.samagra_id:
        disclosures.add(row.samagra_id, record["consumer_number"])
        event["record"] = projector.project(record)
    return event


# -- export -----------------------------------------------------------------------------------------

EXPORT_FORMATS = ("ndjson", "csv")


class ExportStream:
    """The body of exportKycRecords: an iterator of bytes, one transaction per chunk (see module doc)."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        policy: FieldPolicy,
        requester: Requester,
        signer: CursorSigner,
        *,
        after: int,
        fmt: str,
        chunk_size: int,
        session_factory: Callable[[], Session] | None = None,
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._requester = requester
        self._signer = signer
        self._after = after
        self._fmt = fmt
        self._chunk = chunk_size
        self._projector = Projector(policy, box)
        # The projection's columns first (ndjson_line reads them by position), then what the
        # disclosures and the cursor need.
        self._columns = tuple(
            dict.fromkeys((*self._projector.columns, "id", "samagra_id", "consumer_number"))
        )
        self._id_at = self._columns.index("id")
        self._person_at = self._columns.index("samagra_id")
        self._number_at = self._columns.index("consumer_number")
        self._session_factory = session_factory or (lambda: Session(engine, expire_on_commit=False))
        self.released = 0

    def cursor(self, after: int) -> str:
        return self._signer.sign(
            Position(self._requester.client_id, self._requester.purpose, "export", after)
        )

    def _read(self, after: int) -> list[Row[Any]]:
        """The next chunk after ``after``, consent checked in the same SELECT; nothing released yet."""
        with self._session_factory() as session:
            return list(
                session.connection()
                .execute(
                    select(*(RECORDS.c[name] for name in self._columns))
                    .where(
                        RECORDS.c.id > after,
                        live_consent(RECORDS.c.samagra_id, self._policy.purpose, utcnow()),
                    )
                    .order_by(RECORDS.c.id)
                    .limit(self._chunk)
                )
                .all()
            )

    def _release(self, rows: Sequence[Row[Any]]) -> bytes:
        """Record the disclosures of ``rows`` and commit, then return their body.

        The body is rendered while PostgreSQL inserts the disclosure entries
        (:meth:`Disclosures.writing`) and returned only once they are committed.
        """
        disclosures = Disclosures(self._requester, self._policy, utcnow())
        person, number = self._person_at, self._number_at
        for row in rows:
            disclosures.add(row[person], row[number])
        with self._session_factory() as session, session.begin(), disclosures.writing(session):
            return self._body(rows, self.cursor(rows[-1][self._id_at]))

    def _body(self, rows: Sequence[Row[Any]], cursor: str) -> bytes:
        if self._fmt == "ndjson":
            line = self._projector.ndjson_line
            return ("".join([line(row) for row in rows]) + json.dumps({"_checkpoint": cursor}) + "\n").encode(
                "utf-8"
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        fields = self._policy.fields
        last = len(rows) - 1
        for index, row in enumerate(rows):
            record = self._projector.project(row._mapping)
            writer.writerow([_csv_cell(record[name]) for name in fields] + [cursor if index == last else ""])
        return buffer.getvalue().encode("utf-8")

    def __iter__(self) -> Iterator[bytes]:
        after = self._after
        if self._fmt == "csv":
            yield _csv_line([*self._policy.fields, "_cursor"])
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kyc-export-read") as pool:
            reading = pool.submit(self._read, after)
            while True:
                rows = reading.result()
                if not rows:
                    break
                after = rows[-1][self._id_at]
                full = len(rows) == self._chunk
                if full:
                    # Read ahead while this chunk is disclosed and sent: reading releases nothing.
                    reading = pool.submit(self._read, after)
                body = self._release(rows)
                self.released += len(rows)
                yield body
                if not full:
                    break
        if self._fmt == "ndjson":
            yield (json.dumps({"_end": True, "cursor": self.cursor(after)}) + "\n").encode("utf-8")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # Spreadsheet formula injection: a cell a clerk opens must not start a formula.
    if text[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text


def _csv_line(cells: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode("utf-8")


# -- the person's view --------------------------------------------------------------------------------


def disclosures_of(
    session: Session, samagra_id: str, *, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """listDisclosures: newest first; returns (entries, ``before`` for the next page or None)."""
    query = (
        select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor, AuditEntry.data_json)
        .where(
            AuditEntry.subject_type == PERSON,
            AuditEntry.subject_id == samagra_id,
            AuditEntry.action == DISCLOSED,
        )
        .order_by(AuditEntry.seq.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    client_ids = {r.actor.removeprefix("client:") for r in rows}
    names = (
        dict(
            session.execute(
                select(PartnerClient.client_id, PartnerClient.name).where(
                    PartnerClient.client_id.in_(client_ids)
                )
            ).all()
        )
        if client_ids
        else {}
    )
    entries = []
    for row in rows:
        data = json.loads(row.data_json)
        client_id = row.actor.removeprefix("client:")
        entries.append(
            {
                "at": row.at.isoformat(),
                "client_id": client_id,
                "client_name": names.get(client_id),
                "purpose": data["purpose"],
                "consumer_number": data["consumer_number"],
                "fields": data["fields"],
                "via": data["via"],
            }
        )
    return entries, (rows[-1].seq if more and rows else None)
