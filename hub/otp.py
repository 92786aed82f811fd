"""OTPs to a person's registered mobile: the hub's proof that a person consents.

The hub owns consent: it sends the OTP (SMS connector, through the outbox)
to the mobile registered in billing or KYC, and the calling system relays
what the person typed. Defences: a short lifetime, one use, a few attempts
per challenge, a cap on failed attempts per mobile per hour (lockout) and on
OTPs sent per mobile per hour. All counters are rows in the database, so
every process and machine enforces the same limits.

A failed attempt must be remembered even though the request fails: views
return the problem response instead of raising, so pyramid_tm commits the
incremented counter (nothing else was written).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models.meta import utcnow
from hub.models.otp import OtpChallenge

OTP_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS_PER_CHALLENGE = 3
MAX_FAILURES_PER_MOBILE_PER_HOUR = 10
MAX_SENDS_PER_MOBILE_PER_HOUR = 5


class OtpRefused(Exception):
    """``code``: otp_invalid, otp_expired, otp_used, otp_locked, otp_send_limit, otp_attempts_exhausted."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SentOtp:
    challenge_id: str
    expires_at: datetime
    code: str  # for the SMS text only; never returned to callers


def _mac(secret: str, challenge_id: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _failures_last_hour(session: Session, mobile: str, now: datetime) -> int:
    total = session.execute(
        select(func.coalesce(func.sum(OtpChallenge.failed_attempts), 0)).where(
            OtpChallenge.mobile == mobile, OtpChallenge.created_at > now - timedelta(hours=1)
        )
    ).scalar_one()
    return int(total)


def create_otp(session: Session, secret: str, mobile: str, purpose: str, client_id: str) -> SentOtp:
    """Record a new challenge; the caller enqueues the SMS in the same transaction."""
    now = utcnow()
    sent = session.execute(
        select(func.count())
        .select_from(OtpChallenge)
        .where(OtpChallenge.mobile == mobile, OtpChallenge.created_at > now - timedelta(hours=1))
    ).scalar_one()
    if sent >= MAX_SENDS_PER_MOBILE_PER_HOUR:
        raise OtpRefused("otp_send_limit", "too many OTPs sent to this mobile in the last hour")
    if _failures_last_hour(session, mobile, now) >= MAX_FAILURES_PER_MOBILE_PER_HOUR:
        raise OtpRefused("otp_locked", "too many wrong OTPs for this mobile; try again later")
    challenge_id = "otp_" + secrets.token_urlsafe(18)
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        OtpChallenge(
            challenge_id=challenge_id,
            mobile=mobile,
            purpose=purpose,
            code_mac=_mac(secret, challenge_id, code),
            requested_by_client=client_id,
            created_at=now,
            expires_at=now + OTP_LIFETIME,
        )
    )
    session.flush()
    return SentOtp(challenge_id, now + OTP_LIFETIME, code)


def consume_otp(
    session: Session, secret: str, challenge_id: str, code: str, purpose: str, client_id: str
) -> OtpChallenge:
    """Check ``code`` and mark the challenge used, or raise OtpRefused.

    A challenge is bound to the purpose and the client it was sent for: an
    OTP sent to link a connection cannot approve an application.
    """
    now = utcnow()
    challenge = session.execute(
        select(OtpChallenge).where(OtpChallenge.challenge_id == challenge_id).with_for_update()
    ).scalar_one_or_none()
    if challenge is None or challenge.purpose != purpose or challenge.requested_by_client != client_id:
        raise OtpRefused("otp_invalid", "the OTP is not valid")
    if challenge.consumed_at is not None:
        raise OtpRefused("otp_used", "the OTP was already used")
    if now >= challenge.expires_at:
        raise OtpRefused("otp_expired", "the OTP has expired; ask for a new one")
    if challenge.failed_attempts >= MAX_ATTEMPTS_PER_CHALLENGE:
        raise OtpRefused("otp_attempts_exhausted", "too many wrong attempts; ask for a new OTP")
    if _failures_last_hour(session, challenge.mobile, now) >= MAX_FAILURES_PER_MOBILE_PER_HOUR:
        raise OtpRefused("otp_locked", "too many wrong OTPs for this mobile; try again later")
    if not hmac.compare_digest(challenge.code_mac, _mac(secret, challenge_id, code.strip())):
        challenge.failed_attempts += 1
        session.flush()
        raise OtpRefused("otp_invalid", "the OTP is not valid")
    challenge.consumed_at = now
    session.flush()
    return challenge
