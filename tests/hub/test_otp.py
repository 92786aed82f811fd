"""OTP challenges: one use, expiry, attempt limits, per-mobile lockout and send limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from hub.otp import (
    MAX_ATTEMPTS_PER_CHALLENGE,
    MAX_SENDS_PER_MOBILE_PER_HOUR,
    OtpRefused,
    consume_otp,
    create_otp,
)

SECRET = "test-secret"


def _refused(fn: object, *args: object) -> str:
    with pytest.raises(OtpRefused) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


def test_right_code_once(dbsession: Session) -> None:
    sent = create_otp(dbsession, SECRET, "9876500001", "apply", "c1")
    assert len(sent.code) == 6 and sent.code.isdigit()
    challenge = consume_otp(dbsession, SECRET, sent.challenge_id, sent.code, "apply", "c1")
    assert challenge.consumed_at is not None
    assert _refused(consume_otp, dbsession, SECRET, sent.challenge_id, sent.code, "apply", "c1") == "otp_used"


def test_bound_to_purpose_and_client(dbsession: Session) -> None:
    sent = create_otp(dbsession, SECRET, "9876500002", "link:4512300001", "c1")
    assert (
        _refused(consume_otp, dbsession, SECRET, sent.challenge_id, sent.code, "apply", "c1") == "otp_invalid"
    )
    assert (
        _refused(consume_otp, dbsession, SECRET, sent.challenge_id, sent.code, "link:4512300001", "c2")
        == "otp_invalid"
    )
    consume_otp(dbsession, SECRET, sent.challenge_id, sent.code, "link:4512300001", "c1")


def test_expired(dbsession: Session) -> None:
    sent = create_otp(dbsession, SECRET, "9876500003", "apply", "c1")
    from hub.models import OtpChallenge

    row = dbsession.query(OtpChallenge).filter_by(challenge_id=sent.challenge_id).one()
    row.expires_at = row.created_at - timedelta(seconds=1)
    dbsession.flush()
    assert (
        _refused(consume_otp, dbsession, SECRET, sent.challenge_id, sent.code, "apply", "c1") == "otp_expired"
    )


def test_attempts_per_challenge_then_lockout(dbsession: Session) -> None:
    mobile = "9876500004"
    sent = create_otp(dbsession, SECRET, mobile, "apply", "c1")
    wrong = "000000" if sent.code != "000000" else "111111"
    codes = [
        _refused(consume_otp, dbsession, SECRET, sent.challenge_id, wrong, "apply", "c1")
        for _ in range(MAX_ATTEMPTS_PER_CHALLENGE)
    ]
    assert codes == ["otp_invalid"] * MAX_ATTEMPTS_PER_CHALLENGE
    # Even the right code no longer works on this challenge.
    assert (
        _refused(consume_otp, dbsession, SECRET, sent.challenge_id, sent.code, "apply", "c1")
        == "otp_attempts_exhausted"
    )
    # Brute force across fresh challenges runs into the per-mobile lockout.
    outcomes = []
    for _ in range(3):
        try:
            fresh = create_otp(dbsession, SECRET, mobile, "apply", "c1")
        except OtpRefused as exc:
            outcomes.append(exc.code)
            break
        for _ in range(MAX_ATTEMPTS_PER_CHALLENGE):
            outcomes.append(
                _refused(consume_otp, dbsession, SECRET, fresh.challenge_id, wrong, "apply", "c1")
            )
    assert "otp_locked" in outcomes


def test_send_limit_per_mobile(dbsession: Session) -> None:
    for _ in range(MAX_SENDS_PER_MOBILE_PER_HOUR):
        create_otp(dbsession, SECRET, "9876500005", "apply", "c1")
    assert _refused(create_otp, dbsession, SECRET, "9876500005", "apply", "c1") == "otp_send_limit"
    create_otp(dbsession, SECRET, "9876500006", "apply", "c1")
