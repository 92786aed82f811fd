"""The verification log: who asked about which certificate, how, and what they were told.

Every answer's rows are written with one INSERT in the answering request's own
transaction, so a verification that was answered is in the log (the answer is
sent only after the commit) and a log that cannot be written fails the answer.

An authority's check of a certificate (a partner asked, a certificate matched)
is marked ``notify_holder``: hub-worker claims marked rows with a conditional
UPDATE and texts the holder (hub.election.holder_sms). Claiming by the mark, not
by id, takes rows that commit out of id order as well, and no verification
waits on a lock for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    null,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from hub.db import mark_written
from hub.models.document import DocumentVerification
from hub.models.meta import UTCDateTime


class _Certificate(Protocol):
    @property
    def id(self) -> int: ...


class Answer(Protocol):
    """What the log keeps of an answer (hub.certificates.verification.VerificationResult)."""

    @property
    def number(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def record(self) -> _Certificate | None: ...


# One INSERT for any number of answers. A batch on PostgreSQL: the per-answer values travel
# as three arrays (a statement with a thousand rows of placeholders is rewritten by psycopg on
# every call, which cost more than the insert). One answer, and SQLite: the rows of one
# cached statement.
_LOG = cast(Table, DocumentVerification.__table__)
_INSERT = insert(_LOG)
_ROWS = (
    func.unnest(
        bindparam("numbers", type_=postgresql.ARRAY(String)),
        bindparam("outcomes", type_=postgresql.ARRAY(String)),
        bindparam("documents", type_=postgresql.ARRAY(Integer)),
    )
    .table_valued("n", "o", "d")
    .render_derived(name="t")
)
_INSERT_PG = insert(_LOG).from_select(
    ["at", "method", "verifier", "client_id", "number_given", "outcome", "document_id", "notify_holder"],
    select(
        bindparam("at", type_=UTCDateTime()),
        bindparam("method", type_=String()),
        bindparam("verifier", type_=String()),
        bindparam("client_id", type_=String()),
        _ROWS.c.n,
        _ROWS.c.o,
        _ROWS.c.d,
        case((and_(bindparam("notify", type_=Boolean()), _ROWS.c.d.is_not(None)), true()), else_=null()),
    ),
)

# The widths of the log's text columns: what a caller typed is cut to fit, never refused.
_NUMBER_MAX = 64
_VERIFIER_MAX = 200


def record_verifications(
    session: Session,
    results: Sequence[Answer],
    method: str,
    verifier: str,
    at: datetime,
    client_id: str | None = None,
) -> None:
    """Log ``results`` in ``session``'s transaction: one INSERT for all of them.

    ``client_id``: the partner (an authority) who asked, None if anonymous.
    """
    if not results:
        return
    verifier = verifier[:_VERIFIER_MAX]
    # Core on the session's connection (its transaction): no ORM machinery for plain rows.
    connection = session.connection()
    if len(results) > 1 and connection.dialect.name == "postgresql":
        connection.execute(
            _INSERT_PG,
            {
                "at": at,
                "method": method,
                "verifier": verifier,
                "client_id": client_id,
                "notify": client_id is not None,
                "numbers": [r.number[:_NUMBER_MAX] for r in results],
                "outcomes": [r.status for r in results],
                "documents": [None if r.record is None else r.record.id for r in results],
            },
        )
    else:
        rows: list[dict[str, Any]] = [
            {
                "at": at,
                "number_given": r.number[:_NUMBER_MAX],
                "method": method,
                "outcome": r.status,
                "verifier": verifier,
                "client_id": client_id,
                "document_id": None if r.record is None else r.record.id,
                "notify_holder": True if client_id is not None and r.record is not None else None,
            }
            for r in results
        ]
        # One answer (most of them): its values as plain parameters, which psycopg passes
        # as they are; arrays are worth their conversion only for a batch.
        connection.execute(_INSERT, rows[0] if len(rows) == 1 else rows)
    # Core statements: the request's transaction must be told it wrote, or it would roll back.
    mark_written(session)
