"""Single-window callbacks: signed delivery to the fake portal (JWS and HMAC), its failure modes,
and the reference portal on SQLite/PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy.engine import Engine

from connectors.errors import ConnectorRejected, ConnectorUnavailable
from connectors.reference_db import set_down
from connectors.singlewindow import ISingleWindowCallback, StatusUpdate, envelope
from connectors.singlewindow.client import HttpSingleWindow
from connectors.singlewindow.reference import ReferenceSingleWindow
from connectors.singlewindow.signing import (
    HMAC_HEADER,
    JWS_HEADER,
    HmacSigner,
    JwsSigner,
    SignatureInvalid,
    verify_hmac,
    verify_jws,
)
from tests.connectors.fake_singlewindow import FakeSingleWindow
from tests.connectors.messaging_fixtures import http_context, ref_context, ref_engine

__all__ = ["ref_engine"]

HMAC_SECRET = "sw-shared-secret-0123456789abcdef0123"


def update(n: int = 1, application_id: str = "SW-MP-2026-0042") -> StatusUpdate:
    return StatusUpdate(
        delivery_id=f"outbox-{application_id}-{n}",
        application_id=application_id,
        application_no="NC-2026-000042",
        status="demand_note_issued",
        sequence=n,
        occurred_at=datetime(2026, 11, 23, 10, n, tzinfo=UTC),
        remarks="मांग पत्र जारी किया गया / demand note issued",
        details={"amount_inr": "12345.50", "due_by": "2026-12-07", "paid": False},
    )


@pytest.fixture(scope="module")
def ec_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeySet]:
    key = ECKey.generate_key("P-256", parameters={"kid": "hub-sw-1"})
    path = tmp_path_factory.mktemp("keys") / "sw.pem"
    path.write_bytes(key.as_pem(private=True))
    return path, KeySet([ECKey.import_key(key.as_dict(private=False))])


@pytest.fixture
def jws_portal(ec_key: tuple[Path, KeySet]) -> Iterator[FakeSingleWindow]:
    with FakeSingleWindow(jwks=ec_key[1]) as portal:
        yield portal


def jws_client(portal: FakeSingleWindow, key_file: Path, **extra: str) -> HttpSingleWindow:
    return HttpSingleWindow.from_context(
        http_context(
            "singlewindow",
            portal.url,
            signature="jws",
            jws_key_file=str(key_file),
            jws_kid="hub-sw-1",
            **extra,
        )
    )


def test_jws_delivery_arrives_once_with_devanagari(
    jws_portal: FakeSingleWindow, ec_key: tuple[Path, KeySet]
) -> None:
    client = jws_client(jws_portal, ec_key[0])
    assert ISingleWindowCallback.providedBy(client)
    receipt = client.deliver(update(1))
    assert (receipt.delivery_id, receipt.duplicate) == ("outbox-SW-MP-2026-0042-1", False)
    assert client.deliver(update(1)).duplicate  # the worker's retry: the portal dedupes
    [got] = jws_portal.updates_for("SW-MP-2026-0042")
    assert got == update(1)
    assert got.remarks.startswith("मांग पत्र")
    assert (jws_portal.attempts, jws_portal.duplicates, jws_portal.kids) == (2, 1, {"hub-sw-1"})
    client.heartbeat()


def test_a_forged_or_foreign_signature_is_refused(jws_portal: FakeSingleWindow, tmp_path: Path) -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "hub-sw-1"})
    (tmp_path / "other.pem").write_bytes(other.as_pem(private=True))
    # 401: our key is wrong, nothing will get through until an operator fixes it (retried, then parked).
    with pytest.raises(ConnectorUnavailable, match="401"):
        jws_client(jws_portal, tmp_path / "other.pem").deliver(update(1))
    assert jws_portal.deliveries == [] and jws_portal.rejected == 1


def test_detached_jws_covers_the_body_and_works_with_rsa(tmp_path: Path) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "hub-sw-rsa"})
    (tmp_path / "rsa.pem").write_bytes(rsa.as_pem(private=True))
    signer = JwsSigner.from_pem_file(str(tmp_path / "rsa.pem"), "hub-sw-rsa")
    assert signer.alg == "RS256"
    body = envelope(update(1), datetime.now(UTC))
    headers = signer.headers(body)
    assert headers[JWS_HEADER].split(".")[1] == ""  # detached: the payload travels as the body
    jwks = KeySet([RSAKey.import_key(signer.public_jwk())])
    assert verify_jws(body, headers, jwks) == "hub-sw-rsa"
    with pytest.raises(SignatureInvalid):
        verify_jws(body.replace("मांग".encode(), "माँग".encode()), headers, jwks)
    with pytest.raises(SignatureInvalid):
        verify_jws(body, headers, jwks, algorithms=["ES256"])  # the receiver pins algorithms


def test_hmac_delivery_and_its_checks() -> None:
    with FakeSingleWindow(hmac_secret=HMAC_SECRET) as portal:
        client = HttpSingleWindow.from_context(
            http_context("singlewindow", portal.url, signature="hmac", hmac_secret=HMAC_SECRET)
        )
        for n in (1, 2, 3):
            client.deliver(update(n))
        assert [u.sequence for u in portal.updates_for("SW-MP-2026-0042")] == [1, 2, 3]
        wrong = HttpSingleWindow.from_context(
            http_context("singlewindow", portal.url, signature="hmac", hmac_secret=HMAC_SECRET[::-1])
        )
        with pytest.raises(ConnectorUnavailable, match="401"):
            wrong.deliver(update(4))
        assert portal.rejected == 1
    body = envelope(update(1), datetime.now(UTC))
    headers = HmacSigner(HMAC_SECRET).headers(body, now=1_700_000_000)
    assert headers[HMAC_HEADER].startswith("t=1700000000,v1=")
    verify_hmac(body, headers, HMAC_SECRET, now=1_700_000_100)
    with pytest.raises(SignatureInvalid, match="old"):
        verify_hmac(body, headers, HMAC_SECRET, now=1_700_001_000)
    with pytest.raises(SignatureInvalid):
        verify_hmac(body + b" ", headers, HMAC_SECRET, now=1_700_000_100)
    with pytest.raises(ValueError, match="hmac_secret"):
        HmacSigner("short")


@pytest.mark.parametrize("mode", ["error", "garbage", "slow", "refused", "lost_ack"])
def test_portal_failures_are_retried_and_nothing_is_lost(
    jws_portal: FakeSingleWindow, ec_key: tuple[Path, KeySet], mode: str
) -> None:
    client = jws_client(jws_portal, ec_key[0])
    if mode == "refused":
        jws_portal.down()
    else:
        jws_portal.mode = mode
        jws_portal.slow_seconds = 3
    with pytest.raises(ConnectorUnavailable):
        client.deliver(update(1))
    with pytest.raises(ConnectorUnavailable):
        client.heartbeat() if mode in ("error", "refused") else client.deliver(update(1))
    jws_portal.up()
    jws_portal.mode = "ok"
    client.deliver(update(1))  # the worker's next attempt
    assert jws_portal.updates_for("SW-MP-2026-0042") == [update(1)]  # exactly once, whatever happened


def test_fail_next_and_wait_for(jws_portal: FakeSingleWindow, ec_key: tuple[Path, KeySet]) -> None:
    client = jws_client(jws_portal, ec_key[0])
    jws_portal.fail_next(2)
    for _ in range(2):
        with pytest.raises(ConnectorUnavailable):
            client.deliver(update(1))
    client.deliver(update(1))
    assert jws_portal.wait_for(1, timeout=1)
    assert not jws_portal.wait_for(2, timeout=0.1)


def test_a_2xx_that_does_not_acknowledge_is_not_delivered(ec_key: tuple[Path, KeySet]) -> None:
    from tests.connectors.fakehttp import FakeResponse, FakeServer

    with FakeServer(
        lambda request: FakeResponse.json(200, {"delivery_id": "someone-else", "status": "accepted"})
    ) as server:
        client = HttpSingleWindow.from_context(
            http_context(
                "singlewindow", server.url, signature="jws", jws_key_file=str(ec_key[0]), jws_kid="hub-sw-1"
            )
        )
        with pytest.raises(ConnectorUnavailable):
            client.deliver(update(1))
        server.handler = lambda request: FakeResponse(204)
        with pytest.raises(ConnectorUnavailable):
            client.deliver(update(1))
        lenient = HttpSingleWindow.from_context(
            http_context(
                "singlewindow",
                server.url,
                signature="jws",
                jws_key_file=str(ec_key[0]),
                jws_kid="hub-sw-1",
                require_ack="false",
            )
        )
        assert not lenient.deliver(update(1)).duplicate
        sent = json.loads(server.requests[-1].body)
        assert sent["delivery_id"] == "outbox-SW-MP-2026-0042-1"
        assert server.requests[-1].headers["idempotency-key"] == "outbox-SW-MP-2026-0042-1"


def test_a_4xx_refusal_is_a_rejection_with_the_portals_code() -> None:
    from tests.connectors.fakehttp import FakeResponse, FakeServer

    with FakeServer(lambda request: FakeResponse.json(422, {"error": "unknown_application"})) as server:
        client = HttpSingleWindow.from_context(
            http_context("singlewindow", server.url, signature="hmac", hmac_secret=HMAC_SECRET)
        )
        with pytest.raises(ConnectorRejected) as err:
            client.deliver(update(1))
        assert err.value.code == "unknown_application"


def test_settings_are_checked(ec_key: tuple[Path, KeySet]) -> None:
    with pytest.raises(ValueError, match="signature"):
        HttpSingleWindow.from_context(http_context("singlewindow", "http://127.0.0.1:1/cb", signature="none"))
    with pytest.raises(ValueError, match="url"):
        HttpSingleWindow.from_context(
            http_context("singlewindow", "ftp://portal/cb", signature="hmac", hmac_secret=HMAC_SECRET)
        )


def test_update_fields_are_validated() -> None:
    with pytest.raises(ValueError):
        StatusUpdate("bad id with spaces", "SW-1", "NC-1", "x", 1, datetime.now(UTC))
    with pytest.raises(ValueError):
        StatusUpdate("d1", "SW-1", "NC-1", "x", 1, datetime(2026, 1, 1))  # naive time


# -- reference portal --------------------------------------------------------------------
def test_reference_records_in_order_and_dedupes(ref_engine: Engine) -> None:
    portal = ReferenceSingleWindow.from_context(ref_context("singlewindow", ref_engine))
    assert ISingleWindowCallback.providedBy(portal)
    assert not portal.deliver(update(2)).duplicate
    assert not portal.deliver(update(1)).duplicate
    assert portal.deliver(update(2)).duplicate
    portal.deliver(update(1, application_id="SW-OTHER"))
    assert portal.received("SW-MP-2026-0042") == [update(1), update(2)]
    assert len(portal.received()) == 3
    set_down(ref_engine, "singlewindow")
    with pytest.raises(ConnectorUnavailable):
        portal.deliver(update(3))
    with pytest.raises(ConnectorUnavailable):
        portal.heartbeat()
    set_down(ref_engine, "singlewindow", False)
    portal.heartbeat()
