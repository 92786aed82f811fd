"""Reference KYC: the discom's KYC system simulated on ``ref_`` tables.

It reads the reference billing's consumers (which connection belongs to which
Samagra family) and the Samagra registry extract (``ref_samagra_person``), and
keeps one ``ref_kyc_record`` per connection. Own short transactions, like an
outside system; ``connectors.reference_db.set_down(engine, "kyc")`` makes
every call raise ConnectorUnavailable.

e-KYC rules (what the real service is documented to check):

* the consumer number must exist and not be permanently disconnected;
* the Samagra member must exist;
* if billing already links the connection to a Samagra member, the submitted
  member must be of the same family (a spouse may complete e-KYC);
* the bank account comes from Samagra: with one the record is ``complete``,
  without one ``pending`` (bank seeding pending).

The change feed cursor is the decimal ``change_seq`` of the last record seen.
Each change takes the next value of the ``kyc_change`` counter inside its
transaction; the counter row stays locked until commit, so sequence order is
commit order and a reader never skips a change.

ini: ``hub.kyc.backend = connectors.kyc.reference:ReferenceKyc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import ConnectionStatus, is_consumer_number, is_mobile, is_samagra_id
from connectors.billing.reference import india_today, reference_transaction
from connectors.billing.tables import RefConsumer, next_counter_value
from connectors.errors import ConnectorRejected, NotFound
from connectors.kyc import (
    MAX_CHANGES_PAGE,
    MAX_KYC_BATCH,
    SYSTEM,
    EkycOutcome,
    EkycRefusal,
    IKyc,
    KycChanges,
    KycRecord,
    KycStatus,
)
from connectors.kyc.tables import RefKycRecord, RefSamagraPerson

records_t = cast(Table, RefKycRecord.__table__)
persons_t = cast(Table, RefSamagraPerson.__table__)
consumers_t = cast(Table, RefConsumer.__table__)
CHANGE_COUNTER = "kyc_change"


def _record(row: Row[Any]) -> KycRecord:
    return KycRecord(
        consumer_number=row.consumer_number,
        holder_name_en=row.holder_name_en,
        holder_name_hi=row.holder_name_hi,
        samagra_id=row.samagra_id,
        mobile=row.mobile,
        bank_account=row.bank_account,
        ifsc=row.ifsc,
        status=KycStatus(row.status),
        kyc_date=row.kyc_date,
        source=row.source,
        updated_at=row.updated_at,
    )


def _columns() -> list[Any]:
    c = records_t.c
    return [
        c.consumer_number,
        c.holder_name_en,
        c.holder_name_hi,
        c.samagra_id,
        c.mobile,
        c.bank_account,
        c.ifsc,
        c.status,
        c.kyc_date,
        c.source,
        c.updated_at,
        c.change_seq,
    ]


@implementer(IKyc)
class ReferenceKyc:
    system = SYSTEM

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceKyc:
        return cls(context.reference_store())

    def _begin(self) -> AbstractContextManager[Connection]:
        return reference_transaction(self.engine, self.system)

    def heartbeat(self) -> None:
        with self._begin() as conn:
            conn.execute(select(persons_t.c.samagra_id).limit(1)).first()

    def get_record(self, consumer_number: str) -> KycRecord:
        record = self.get_records([consumer_number]).get(consumer_number)
        if record is None:
            raise NotFound("kyc: no record for this consumer number", system=self.system)
        return record

    def get_records(self, consumer_numbers: Sequence[str]) -> Mapping[str, KycRecord]:
        if len(consumer_numbers) > MAX_KYC_BATCH:
            raise ConnectorRejected(f"kyc: at most {MAX_KYC_BATCH} records per call", system=self.system)
        wanted = [n for n in dict.fromkeys(consumer_numbers) if is_consumer_number(n)]
        if not wanted:
            return {}
        with self._begin() as conn:
            rows = conn.execute(select(*_columns()).where(records_t.c.consumer_number.in_(wanted))).all()
        return {row.consumer_number: _record(row) for row in rows}

    def records_by_samagra(self, samagra_id: str) -> list[KycRecord]:
        if not is_samagra_id(samagra_id):
            return []
        with self._begin() as conn:
            rows = conn.execute(
                select(*_columns())
                .where(records_t.c.samagra_id == samagra_id)
                .order_by(records_t.c.consumer_number)
            ).all()
        return [_record(row) for row in rows]

    def submit_ekyc(self, consumer_number: str, samagra_id: str, mobile: str | None = None) -> EkycOutcome:
        if mobile is not None and not is_mobile(mobile):
            raise ConnectorRejected(
                "kyc: mobile must be 10 digits starting 6-9", system=self.system, code="invalid_request"
            )
        for _attempt in range(3):
            try:
                return self._submit(consumer_number, samagra_id, mobile)
            except IntegrityError:
                # A concurrent first e-KYC of the same connection inserted the row: redo as an update.
                continue
        raise ConnectorRejected("kyc: concurrent e-KYC submissions", system=self.system, code="conflict")

    def _submit(self, consumer_number: str, samagra_id: str, mobile: str | None) -> EkycOutcome:
        def refused(reason: EkycRefusal) -> EkycOutcome:
            return EkycOutcome(accepted=False, record=None, refusal=reason)

        if not is_consumer_number(consumer_number):
            return refused(EkycRefusal.UNKNOWN_CONSUMER)
        if not is_samagra_id(samagra_id):
            return refused(EkycRefusal.UNKNOWN_SAMAGRA)
        with self._begin() as conn:
            consumer = conn.execute(
                select(consumers_t.c.samagra_id, consumers_t.c.mobile, consumers_t.c.connection_status).where(
                    consumers_t.c.consumer_number == consumer_number
                )
            ).first()
            if consumer is None:
                return refused(EkycRefusal.UNKNOWN_CONSUMER)
            if consumer.connection_status == ConnectionStatus.PERMANENTLY_DISCONNECTED.value:
                return refused(EkycRefusal.CONNECTION_CLOSED)
            person = conn.execute(select(persons_t).where(persons_t.c.samagra_id == samagra_id)).first()
            if person is None:
                return refused(EkycRefusal.UNKNOWN_SAMAGRA)
            if consumer.samagra_id and consumer.samagra_id != samagra_id:
                registered_family = conn.execute(
                    select(persons_t.c.family_id).where(persons_t.c.samagra_id == consumer.samagra_id)
                ).scalar()
                if registered_family != person.family_id:
                    return refused(EkycRefusal.SAMAGRA_MISMATCH)
            now = datetime.now(UTC)
            values = {
                "samagra_id": samagra_id,
                "holder_name_en": person.name_en,
                "holder_name_hi": person.name_hi,
                "mobile": mobile or consumer.mobile,
                "bank_account": person.bank_account,
                "ifsc": person.ifsc,
                "status": (KycStatus.COMPLETE if person.bank_account else KycStatus.PENDING).value,
                "kyc_date": india_today(),
                "source": "ekyc",
                "change_seq": next_counter_value(conn, CHANGE_COUNTER, 1),
                "updated_at": now,
            }
            done = conn.execute(
                update(records_t).where(records_t.c.consumer_number == consumer_number).values(**values)
            ).rowcount
            if not done:
                conn.execute(insert(records_t).values(consumer_number=consumer_number, **values))
            row = conn.execute(
                select(*_columns()).where(records_t.c.consumer_number == consumer_number)
            ).one()
        return EkycOutcome(accepted=True, record=_record(row), refusal=None)

    def changes_since(self, cursor: str | None, limit: int = 500) -> KycChanges:
        if cursor is None or cursor == "":
            after = 0
        elif cursor.isascii() and cursor.isdigit() and len(cursor) <= 18:
            after = int(cursor)
        else:
            raise ConnectorRejected("kyc: malformed cursor", system=self.system, code="invalid_cursor")
        limit = max(1, min(limit, MAX_CHANGES_PAGE))
        with self._begin() as conn:
            rows = conn.execute(
                select(*_columns())
                .where(records_t.c.change_seq > after)
                .order_by(records_t.c.change_seq)
                .limit(limit)
            ).all()
        next_cursor = str(rows[-1].change_seq) if rows else str(after)
        return KycChanges(records=tuple(_record(row) for row in rows), next_cursor=next_cursor)
