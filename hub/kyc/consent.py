"""A person's consent (by Samagra ID) for a purpose (a DBT scheme): OTP-confirmed, expiring, withdrawable.

The OTP goes to the mobile on the person's newest KYC record, never to a
number the caller names, so the portal cannot consent for someone else. The
OTP challenge's purpose string binds the Samagra ID, the scheme and the
duration the person was shown: an OTP sent for one scheme cannot confirm
another. Consent is checked at every pull (:func:`live_consent`), so a
withdrawal or an expiry takes effect on the next pull.

Every step is audited (hash-chained) and announced on the change feed of the
scheme concerned (``consent_given`` / ``consent_withdrawn``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.orm import Session

from hub import audit
from hub.kycstore import append_change
from hub.models.kyc import ConnectionKyc, KycConsent
from hub.models.meta import utcnow
from hub.otp import SentOtp, consume_otp, create_otp
from hub.outbox import enqueue_sms

MAX_CONSENT_DAYS = 730


class ConsentError(Exception):
    """``code``: not_found (no KYC record with a mobile for this person), unprocessable (unknown scheme)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ConsentRequest:
    sent: SentOtp
    mobile_masked: str


def otp_purpose(samagra_id: str, purpose: str, days: int) -> str:
    return f"kyc-consent:{samagra_id}:{purpose}:{days}"


def consent_text(code: str, purpose: str, days: int) -> str:
    # DLT "otp" template shape: the code first, then what the person agrees to.
    return (
        f"{code} is your OTP to share your KYC with the {purpose} scheme for {days} days. "
        "Valid 10 minutes. Do not share it. MPCZ"
    )


def person_mobile(session: Session, samagra_id: str) -> str | None:
    """The mobile on the person's most recently updated KYC record."""
    return session.execute(
        select(ConnectionKyc.mobile)
        .where(ConnectionKyc.samagra_id == samagra_id, ConnectionKyc.mobile.is_not(None))
        .order_by(ConnectionKyc.source_updated_at.desc(), ConnectionKyc.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def person_matches(session: Session, samagra_id: str, mobile: str) -> bool:
    """Does a KYC record tie this Samagra ID to this mobile? (The portal attests the logged-in mobile.)"""
    return (
        session.execute(
            select(ConnectionKyc.id)
            .where(ConnectionKyc.samagra_id == samagra_id, ConnectionKyc.mobile == mobile)
            .limit(1)
        ).first()
        is not None
    )


def mask_mobile(mobile: str) -> str:
    return "XXXXXX" + mobile[-4:]


def request_consent(
    session: Session,
    secret: str,
    samagra_id: str,
    purpose: str,
    days: int,
    client_id: str,
    known: Collection[str],
) -> ConsentRequest:
    """Send an OTP for consent; raises ConsentError or hub.otp.OtpRefused (send limits)."""
    if purpose not in known:
        raise ConsentError("unprocessable", "no scheme takes KYC for this purpose")
    mobile = person_mobile(session, samagra_id)
    if mobile is None:
        raise ConsentError("not_found", "no KYC record with a mobile for this Samagra ID")
    sent = create_otp(session, secret, mobile, otp_purpose(samagra_id, purpose, days), client_id)
    enqueue_sms(
        session, mobile, consent_text(sent.code, purpose, days), "otp", key=f"kyc-consent:{samagra_id}"
    )
    return ConsentRequest(sent, mask_mobile(mobile))


def confirm_consent(
    session: Session,
    secret: str,
    challenge_id: str,
    code: str,
    samagra_id: str,
    purpose: str,
    days: int,
    client_id: str,
) -> KycConsent:
    """Check the OTP and record the consent; raises OtpRefused (the view must still commit)."""
    challenge = consume_otp(
        session, secret, challenge_id, code, otp_purpose(samagra_id, purpose, days), client_id
    )
    now = utcnow()
    consent = KycConsent(
        samagra_id=samagra_id,
        purpose=purpose,
        mobile=challenge.mobile,
        challenge_id=challenge.challenge_id,
        given_via_client=client_id,
        given_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(consent)
    session.flush()
    append_change(session, "consent_given", samagra_id=samagra_id, purpose=purpose, at=now)
    audit.record(
        session,
        f"client:{client_id}",
        "kyc.consent_given",
        "kyc_person",
        samagra_id,
        {"purpose": purpose, "consent_id": consent.id, "expires_at": consent.expires_at, "otp": challenge_id},
    )
    return consent


def withdraw_consent(session: Session, samagra_id: str, purpose: str, client_id: str) -> int:
    """Withdraw every live consent of the person for the purpose; returns how many (0: none was live)."""
    now = utcnow()
    ids = list(
        session.execute(
            update(KycConsent)
            .where(KycConsent.samagra_id == samagra_id, KycConsent.purpose == purpose, _live(now))
            .values(withdrawn_at=now)
            .returning(KycConsent.id)
        ).scalars()
    )
    if ids:
        append_change(session, "consent_withdrawn", samagra_id=samagra_id, purpose=purpose, at=now)
        audit.record(
            session,
            f"client:{client_id}",
            "kyc.consent_withdrawn",
            "kyc_person",
            samagra_id,
            {"purpose": purpose, "consent_ids": ids},
        )
    return len(ids)


def list_consents(session: Session, samagra_id: str) -> list[KycConsent]:
    return list(
        session.execute(
            select(KycConsent).where(KycConsent.samagra_id == samagra_id).order_by(KycConsent.given_at.desc())
        ).scalars()
    )


def consent_status(consent: KycConsent, now: datetime) -> str:
    if consent.withdrawn_at is not None:
        return "withdrawn"
    if consent.expires_at <= now:
        return "expired"
    return "live"


def _live(now: datetime) -> ColumnElement[bool]:
    return and_(KycConsent.withdrawn_at.is_(None), KycConsent.expires_at > now)


def live_consent(
    samagra_column: ColumnElement[str | None], purpose: str, now: datetime
) -> ColumnElement[bool]:
    """SQL: the person in ``samagra_column`` has a live consent for ``purpose`` (correlated EXISTS)."""
    return exists(
        select(KycConsent.id).where(
            KycConsent.samagra_id == samagra_column, KycConsent.purpose == purpose, _live(now)
        )
    )


def consented_people(session: Session, samagra_ids: Collection[str], purpose: str, now: datetime) -> set[str]:
    """Which of ``samagra_ids`` have a live consent for ``purpose`` (one query)."""
    if not samagra_ids:
        return set()
    return set(
        session.execute(
            select(KycConsent.samagra_id).where(
                KycConsent.samagra_id.in_(list(samagra_ids)), KycConsent.purpose == purpose, _live(now)
            )
        ).scalars()
    )
