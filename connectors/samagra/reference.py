"""Reference Samagra: the state person registry simulated on ``ref_samagra_person``.

The demo data (:mod:`connectors.demo`) fills it with every person billing
and KYC name, with the same names and mobiles. Own short transactions, like
an outside system; ``connectors.reference_db.set_down(engine, "samagra")``
makes every call raise ConnectorUnavailable, and ``delay_seconds`` makes
every call that slow (to try the hub's timeouts and waiting states).

ini::

    hub.samagra.backend = connectors.samagra.reference:ReferenceSamagra
    hub.samagra.delay_seconds = 0     # optional: answer every call this much later
"""

from __future__ import annotations

import time
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.engine import Engine
from zope.interface import implementer

from connectors.base import ConnectorContext
from connectors.billing import is_samagra_id
from connectors.billing.reference import reference_transaction
from connectors.errors import NotFound
from connectors.samagra import SYSTEM, ISamagra, SamagraPerson
from connectors.samagra.tables import RefSamagraPerson

persons_t = cast(Table, RefSamagraPerson.__table__)


@implementer(ISamagra)
class ReferenceSamagra:
    system = SYSTEM

    def __init__(self, engine: Engine, delay_seconds: float = 0.0) -> None:
        if delay_seconds < 0:
            raise ValueError("connector samagra: setting 'delay_seconds' must not be negative")
        self.engine = engine
        self.delay_seconds = delay_seconds

    @classmethod
    def from_context(cls, context: ConnectorContext) -> ReferenceSamagra:
        return cls(context.reference_store(), context.float_option("delay_seconds", 0.0))

    def _wait(self) -> None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)

    def heartbeat(self) -> None:
        self._wait()
        with reference_transaction(self.engine, self.system) as conn:
            conn.execute(select(persons_t.c.samagra_id).limit(1)).first()

    def get_person(self, samagra_id: str) -> SamagraPerson:
        self._wait()
        if not is_samagra_id(samagra_id):
            raise NotFound("samagra: no such member", system=self.system)
        c = persons_t.c
        with reference_transaction(self.engine, self.system) as conn:
            row = conn.execute(
                select(c.samagra_id, c.family_id, c.name_hi, c.name_en, c.mobile).where(
                    c.samagra_id == samagra_id
                )
            ).first()
        if row is None:
            raise NotFound("samagra: no such member", system=self.system)
        return SamagraPerson(row.samagra_id, row.family_id, row.name_hi, row.name_en, row.mobile)
