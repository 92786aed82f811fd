"""Bulk verification by file: a returning officer's CSV of candidates, verified by the worker.

Upload (REST, ``text/csv``): the file is checked whole at once (UTF-8, a
header naming ``number``, at most ``max_rows`` rows, at most ``max_bytes``)
and stored with a job row and an outbox message ``election.job`` in the same
transaction; the client gets the job id (202). The worker verifies it in
chunks of :data:`CHUNK` rows, each chunk its own transaction (one lookup
query, one log INSERT, the holders' SMS), advancing ``processed_rows`` so
progress shows while it runs. At the end it stores a result CSV and a signed
XML report (XML-DSig with the hub's ECDSA evidence key, hub.certificates.keys).

A bad row is answered in the results with its error and never fails the job.
If the worker dies mid-job the outbox hands the message to another worker,
which starts the job over (verifications are logged again; the holder SMS
ledger keeps the holders from a second text the same day).
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree
from pyramid.registry import Registry
from sqlalchemy import update
from sqlalchemy.orm import Session

from forms.errors import FieldProblem, FormError
from hub.certificates.keys import DocumentKeys
from hub.certificates.questions import read_batch
from hub.certificates.verification import MAX_BATCH, BatchItem, verify_many
from hub.db import Database
from hub.election.answers import batch_element
from hub.lookup import process_service
from hub.models.election import ElectionVerificationJob
from hub.models.meta import utcnow
from hub.models.outbox import OutboxMessage
from hub.outbox import enqueue

log = logging.getLogger(__name__)

JOB_KIND = "election.job"
# What lxml wrote before the report when it serialised it: kept, so stored reports keep one form.
XML_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"
CHUNK = 500
assert CHUNK <= MAX_BATCH
COLUMNS = ("ref", "number", "code", "holder_name", "samagra_id")
RESULT_COLUMNS = (
    "index",
    "line",
    "ref",
    "number",
    "status",
    "holder_name",
    "issuer_office",
    "issued_at",
    "valid_until",
    "consumer_numbers",
    "no_connection",
    "error_code",
    "error_field",
    "error_message",
)
# A cell a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True)
class JobLimits:
    max_bytes: int = 2 * 1024 * 1024
    max_rows: int = 10_000

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> JobLimits:
        return cls(
            int(settings["hub.election.csv_max_bytes"]),
            int(settings["hub.election.csv_max_rows"]),
        )


def read_candidates_csv(data: bytes, limits: JobLimits) -> list[dict[str, str]]:
    """The rows of an uploaded CSV as dicts of the known columns (FormError if the file as a whole is bad)."""
    if len(data) > limits.max_bytes:
        raise FormError("body_too_large", f"at most {limits.max_bytes} bytes")
    if b"\x00" in data:
        raise FormError(
            "validation_failed", "not a text file", [FieldProblem("file", "encoding", "NUL byte")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormError(
            "validation_failed", "the CSV must be UTF-8", [FieldProblem("file", "encoding", "not UTF-8")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise FormError(
            "validation_failed", "empty file", [FieldProblem("file", "required", "no header row")]
        ) from None
    names = [h.strip().lower() for h in header]
    if "number" not in names:
        raise FormError(
            "validation_failed",
            "the header must name a number column",
            [FieldProblem("header", "required", "columns: number, and code or holder_name or samagra_id")],
        )
    positions = {name: names.index(name) for name in COLUMNS if name in names}
    rows: list[dict[str, str]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines, as spreadsheets leave them
            if len(rows) >= limits.max_rows:
                raise FormError(
                    "validation_failed",
                    f"at most {limits.max_rows} rows",
                    [FieldProblem("file", "too_many", f"at most {limits.max_rows} rows")],
                )
            rows.append({name: cells[i] for name, i in positions.items() if i < len(cells) and cells[i]})
    except csv.Error:
        raise FormError(
            "validation_failed", "the CSV is malformed", [FieldProblem("file", "format", "not a valid CSV")]
        ) from None
    if not rows:
        raise FormError("validation_failed", "no candidates", [FieldProblem("file", "required", "no rows")])
    return rows


def create_job(session: Session, client_id: str, data: bytes, limits: JobLimits) -> ElectionVerificationJob:
    rows = read_candidates_csv(data, limits)
    job = ElectionVerificationJob(
        public_id="ej_" + secrets.token_urlsafe(15),
        client_id=client_id,
        status="queued",
        total_rows=len(rows),
        processed_rows=0,
        input_csv=data,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    enqueue(session, JOB_KIND, {"job_id": job.id})
    return job


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: formulas are defused with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def result_csv(items: Sequence[BatchItem]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RESULT_COLUMNS)
    for item in items:
        data = item.as_dict()
        result = data.get("result") or {}
        error = data.get("error") or {}
        row = {
            "index": item.index,
            "line": item.index + 2,  # the header is line 1
            "ref": item.ref,
            "number": result.get("number"),
            "status": result.get("status"),
            "holder_name": result.get("holder_name"),
            "issuer_office": result.get("issuer_office"),
            "issued_at": result.get("issued_at"),
            "valid_until": result.get("valid_until"),
            "consumer_numbers": " ".join(c["consumer_number"] for c in result.get("connections", [])),
            "no_connection": result.get("no_connection"),
            "error_code": error.get("code"),
            "error_field": error.get("field"),
            "error_message": error.get("message"),
        }
        writer.writerow([safe_cell(row[c]) for c in RESULT_COLUMNS])
    # BOM: spreadsheets then read the Devanagari names as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


class ElectionJobHandler:
    """Outbox kind ``election.job``: verify the CSV in chunks, then store the CSV and the signed XML."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, message: OutboxMessage, connectors: Mapping[str, Any]) -> None:
        run_job(self.registry, int(message.payload["job_id"]))


def run_job(registry: Registry, job_id: int) -> None:
    engine = process_service(registry, Database).engine
    with Session(engine, expire_on_commit=False) as session, session.begin():
        job = session.get(ElectionVerificationJob, job_id)
        if job is None or job.status == "done":
            return
        job.status = "running"
        job.started_at = utcnow()
        job.processed_rows = 0
        client_id, data, public_id, created_at = job.client_id, job.input_csv, job.public_id, job.created_at
    rows = read_candidates_csv(data, JobLimits(max_bytes=len(data) + 1, max_rows=len(data) + 1))
    items: list[BatchItem] = []
    for start in range(0, len(rows), CHUNK):
        questions = read_batch(rows[start : start + CHUNK])
        # expire_on_commit=False: the answers are read again when the report is written.
        # The chunk's verifications are logged in its own transaction; their holders are
        # texted by hub-worker from the verification log (hub.election.holder_sms).
        with Session(engine, expire_on_commit=False) as session, session.begin():
            answered = verify_many(session, questions, client_id=client_id)
            session.execute(
                update(ElectionVerificationJob)
                .where(ElectionVerificationJob.id == job_id)
                .values(processed_rows=start + len(questions))
            )
        items += [item._replace(index=item.index + start) for item in answered]
    finished = utcnow()
    report = batch_element(
        "VerificationReport",
        items,
        finished,
        head=(("job_id", public_id), ("client_id", client_id), ("created_at", created_at.isoformat())),
    )
    keys = process_service(registry, DocumentKeys)
    signed = keys.sign_element(report)
    xml = XML_DECLARATION + etree.tostring(signed, encoding="utf-8", xml_declaration=False, with_tail=False)
    with Session(engine) as session, session.begin():
        session.execute(
            update(ElectionVerificationJob)
            .where(ElectionVerificationJob.id == job_id)
            .values(
                status="done",
                result_csv=result_csv(items),
                result_xml=xml,
                finished_at=finished,
                processed_rows=len(items),
            )
        )
    log.info("election job done", extra={"job_id": public_id, "rows": len(items)})


def job_view(job: ElectionVerificationJob, links: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "job_id": job.public_id,
        "status": job.status,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.status == "done":
        out["links"] = dict(links)
    return out
