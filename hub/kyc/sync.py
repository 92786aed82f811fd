"""Sync the hub's KYC copy from the KYC connector's change feed (``changes_since``).

Run periodically by the worker and on demand by ``hub-admin <ini> kyc sync``.
Each page is fetched with no transaction open (the KYC system may be slow;
the connector's timeouts bound the wait), then applied and the cursor saved
in one transaction. The state row is locked and the cursor compared before
applying, so two syncs running at once never apply a page twice or move the
cursor backwards. A ConnectorUnavailable stops the run; pages already applied
stay applied and the next run continues from the saved cursor.

A record the hub refuses (hub.kycstore.KycRecordRejected: malformed, or an
Aadhaar-looking value where none belongs) is skipped and counted, never
logged with its values, so one bad record does not stall the feed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.kycstore import KycRecordRejected, record_ekyc
from hub.models.kyc import KycSyncState
from hub.models.meta import utcnow
from hub.outbox import unit_of_work

log = logging.getLogger(__name__)

STATE_NAME = "kyc-connector"


@dataclass
class SyncResult:
    pages: int = 0
    records: int = 0
    rejected: int = 0
    cursor: str | None = None
    caught_up: bool = False
    rejected_numbers: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "pages": self.pages,
            "records": self.records,
            "rejected": self.rejected,
            "caught_up": self.caught_up,
        }


def _state(session: Session, lock: bool = False) -> KycSyncState:
    query = select(KycSyncState).where(KycSyncState.name == STATE_NAME)
    state = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if state is None:
        state = KycSyncState(name=STATE_NAME, cursor=None, records_total=0)
        session.add(state)
        session.flush()
    return state


def sync_kyc(
    registry: Mapping[str, Any],
    kyc: Any,
    *,
    page_size: int = 500,
    max_pages: int = 1000,
    secret_key: str | None = None,
) -> SyncResult:
    """Apply pages of the connector's change feed until caught up or ``max_pages``."""
    result = SyncResult()
    with unit_of_work(registry) as session:
        result.cursor = _state(session).cursor
    while result.pages < max_pages:
        page = kyc.changes_since(result.cursor, page_size)
        with unit_of_work(registry) as session:
            state = _state(session, lock=True)
            if state.cursor != result.cursor:
                log.info("kyc sync: another sync moved the cursor; stopping this one")
                return result
            for record in page.records:
                try:
                    with session.begin_nested():
                        record_ekyc(session, record, "sync", secret_key=secret_key)
                except KycRecordRejected as exc:
                    result.rejected += 1
                    result.rejected_numbers.append(record.consumer_number)
                    log.warning("kyc sync: record refused", extra={"reason": str(exc)})
            state.cursor = page.next_cursor
            state.synced_at = utcnow()
            state.records_total += len(page.records)
        result.pages += 1
        result.records += len(page.records)
        result.cursor = page.next_cursor
        if not page.records:
            result.caught_up = True
            break
    return result


def kyc_sync_job(registry: Mapping[str, Any], kyc: Any, page_size: int, secret_key: str) -> SyncResult:
    """The periodic sync: at most 100 pages a run, so one run never hogs a worker thread."""
    result = sync_kyc(registry, kyc, page_size=page_size, max_pages=100, secret_key=secret_key)
    log.info("kyc sync", extra=result.as_json())
    return result
