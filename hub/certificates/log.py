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
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from hub.models.document import DocumentVerification

if TYPE_CHECKING:
    from hub.certificates.verification import VerificationResult

# The widths of the log's text columns: what a caller typed is cut to fit, never refused.
_NUMBER_MAX = 64
_VERIFIER_MAX = 200


def record_verifications(
    session: Session,
    results: Sequence[VerificationResult],
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
    session.execute(insert(DocumentVerification), rows)
