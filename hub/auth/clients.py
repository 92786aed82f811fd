"""Partner clients: creation, secrets, revocation."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.crypto import SecretBox
from hub.models import PartnerClient, utcnow

# Every scope a view may declare. A client can be granted only these.
KNOWN_SCOPES: dict[str, str] = {
    "hub:ping": "call the authenticated ping (monitoring)",
    "nodues:apply": "apply for no-dues certificates on behalf of a consumer",
    "nodues:read": "read the no-dues applications the client filed",
    "certificates:read": "fetch the documents issued on the client's requests",
    "certificates:verify": "verify certificates (election authority)",
    "certificates:revoke": "revoke certificates",
    "dues:read": "read live dues status",
    "connections:apply": "submit and follow new-connection applications (single window)",
    "payments:record": "record payments",
    "bills:fetch": "fetch consumers' bills (bill-payment platforms, portals, apps)",
    "bills:pay": "open gateway orders for consumers' bills (the discom's portal and app)",
    "bills:bbps": "notify payments as the bill-payment platform",
    "bills:portal": "notify payments as the state citizen-services portal",
    "bills:counter": "upload counter collections as a collection centre",
    "meters:read": "read the state of smart-meter reconnections",
    "network:read": "read which DT, feeder and substation supply a consumer, and the unmapped consumers",
    "energy:read": "read the energy audit: input, billing, collection and losses per feeder, DT and office",
    "outages:manage": "open, update, close and cancel outages on the network (the discom's outage tools)",
    "outages:report": "report outages and restorations of network nodes as SCADA or the meter head-end",
    "kyc:read": "read KYC records for a purpose",
    "kyc:export": "export KYC records for a purpose",
    "kyc:consent": "record consumers' consent and show them their disclosures",
    "complaints:callcentre": "register complaints as the 1912 call centre (idempotent by ticket id)",
    "complaints:consumer": "file, reopen and rate complaints for consumers (the discom's portal and app)",
    "complaints:read": "read complaints' status by complaint number",
    "whatsapp:consent": "record consumers' WhatsApp opt-in and opt-out, with their evidence",
    "whatsapp:read": "read WhatsApp consent and the monthly bill runs' progress",
}

# Client secrets are 256-bit random strings, not human passwords: nobody can
# guess one, so the hash only has to make a stolen table useless, which a
# light Argon2id does. The library defaults (64 MiB, t=3) cost ~0.25 s of CPU
# per token on our 2-core machines and capped the token endpoint at ~2/s.
_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str
    soap_password: str | None


def create_client(
    session: Session,
    name: str,
    scopes: Iterable[str],
    purposes: Iterable[str] = (),
    *,
    secret_box: SecretBox | None = None,
    soap: bool = False,
    rate_per_minute: int | None = None,
) -> NewClient:
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise ValueError(f"unknown scopes: {' '.join(unknown)}")
    client_id = "c_" + secrets.token_hex(8)
    client_secret = secrets.token_urlsafe(32)
    soap_password = None
    soap_encrypted = None
    if soap:
        if secret_box is None:
            raise ValueError("a SOAP username-token client needs the secret box")
        soap_password = secrets.token_urlsafe(24)
        soap_encrypted = secret_box.encrypt(soap_password)
    session.add(
        PartnerClient(
            client_id=client_id,
            name=name,
            secret_hash=_hasher.hash(client_secret),
            scopes=scopes,
            purposes=sorted(set(purposes)),
            soap_password_encrypted=soap_encrypted,
            rate_per_minute=rate_per_minute,
        )
    )
    session.flush()
    return NewClient(client_id, client_secret, soap_password)


@functools.cache
def _stand_in_hash() -> str:
    """What an unknown or revoked client id's secret is checked against (made on first need)."""
    return _hasher.hash(secrets.token_urlsafe(32))


def check_secret(client: PartnerClient | None, secret: str) -> bool:
    """Is ``secret`` the client's? ``None`` (no such active client) runs the same Argon2
    verification against a stand-in hash, so the time taken does not tell which ids exist."""
    hashed = client.secret_hash if client is not None else _stand_in_hash()
    matches: bool
    try:
        matches = _hasher.verify(hashed, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matches = False
    return matches and client is not None


def find_active_client(session: Session, client_id: str) -> PartnerClient | None:
    client = session.execute(
        select(PartnerClient).where(PartnerClient.client_id == client_id)
    ).scalar_one_or_none()
    if client is None or not client.active:
        return None
    return client


def revoke_client(session: Session, client_id: str) -> bool:
    client = session.execute(
        select(PartnerClient).where(PartnerClient.client_id == client_id)
    ).scalar_one_or_none()
    if client is None or not client.active:
        return False
    client.active = False
    client.revoked_at = utcnow()
    return True
