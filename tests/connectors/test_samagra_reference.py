"""ReferenceSamagra on SQLite and PostgreSQL: the demo registry, consistent with billing and KYC; down; slow."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from connectors.base import ConnectorContext, load_connector
from connectors.billing.tables import RefConsumer
from connectors.demo import PERSONAS
from connectors.errors import ConnectorUnavailable, NotFound
from connectors.kyc.tables import RefKycRecord
from connectors.reference_db import set_down
from connectors.samagra import ISamagra, SamagraPerson
from connectors.samagra.reference import ReferenceSamagra
from tests.connectors.refdb_fixtures import *  # noqa: F403 - the ref_engine/demo_engine fixtures


def test_built_from_settings_and_answers_for_the_personas(demo_engine: Engine) -> None:
    context = ConnectorContext(
        "samagra", {"backend": "connectors.samagra.reference:ReferenceSamagra"}, demo_engine
    )
    samagra = load_connector(context.options["backend"], context)
    assert ISamagra.providedBy(samagra)
    samagra.heartbeat()
    for persona in PERSONAS.values():
        assert samagra.get_person(persona.samagra_id) == SamagraPerson(
            persona.samagra_id, persona.family_id, persona.name_hi, persona.name_en, persona.mobile
        )
    for unknown in ("123456789", "12345", "९००००००११"):
        with pytest.raises(NotFound):
            samagra.get_person(unknown)


def test_everyone_billing_and_kyc_name_is_in_the_registry_with_the_same_name_and_mobile(
    demo_engine: Engine,
) -> None:
    samagra = ReferenceSamagra(demo_engine)
    with demo_engine.connect() as conn:
        consumers = conn.execute(
            select(
                RefConsumer.samagra_id, RefConsumer.name_en, RefConsumer.name_hi, RefConsumer.mobile
            ).where(RefConsumer.samagra_id.is_not(None))
        ).all()
        records = conn.execute(
            select(
                RefKycRecord.samagra_id,
                RefKycRecord.holder_name_en,
                RefKycRecord.holder_name_hi,
                RefKycRecord.mobile,
            ).where(RefKycRecord.samagra_id.is_not(None))
        ).all()
    assert len(consumers) > 200 and len(records) > 150
    for samagra_id, name_en, name_hi, mobile in [*consumers, *records]:
        assert samagra_id is not None
        person = samagra.get_person(samagra_id)
        assert (person.name_en, person.name_hi, person.mobile) == (name_en, name_hi, mobile)


def test_switched_down_is_unavailable(demo_engine: Engine) -> None:
    samagra = ReferenceSamagra(demo_engine)
    set_down(demo_engine, "samagra")
    try:
        with pytest.raises(ConnectorUnavailable):
            samagra.heartbeat()
        with pytest.raises(ConnectorUnavailable):
            samagra.get_person(PERSONAS["clean"].samagra_id)
    finally:
        set_down(demo_engine, "samagra", down=False)
    samagra.get_person(PERSONAS["clean"].samagra_id)


def test_delay_on_request(demo_engine: Engine) -> None:
    context = ConnectorContext("samagra", {"delay_seconds": "0.3"}, demo_engine)
    samagra = ReferenceSamagra.from_context(context)
    started = time.monotonic()
    samagra.get_person(PERSONAS["clean"].samagra_id)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(ValueError, match="delay_seconds"):
        ReferenceSamagra.from_context(ConnectorContext("samagra", {"delay_seconds": "-1"}, demo_engine))
