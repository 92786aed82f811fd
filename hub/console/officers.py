"""Officer accounts: creation (``hub-admin officers create``) and sign-in.

Wrong passwords slow down the address that sends them (hub.throttle), never the account
everywhere: an account-wide lockout would let anyone who knows a username lock its officer out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models.meta import utcnow
from hub.models.officer import Officer
from hub.offices import OFFICE

MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,59}")
ROLE = re.compile(r"[a-z][a-z0-9_]{1,39}")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both cases cost the same argon2 time.

    Made on first need, not at import: argon2's 64 MiB would otherwise be every
    web and worker process's start-up memory peak, officers' logins or not.
    """
    return _hasher.hash("not-a-real-password")


class OfficerError(ValueError):
    """The officer cannot be created as asked (the message says why)."""


def create_officer(
    session: Session, username: str, name: str, password: str, roles: Iterable[str], offices: Iterable[str]
) -> Officer:
    roles, offices = sorted(set(roles)), sorted(set(offices))
    if not USERNAME.fullmatch(username):
        raise OfficerError("username: 3-60 characters a-z 0-9 . _ -, starting with a letter")
    if not name.strip():
        raise OfficerError("name must not be empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OfficerError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if not roles or not all(ROLE.fullmatch(r) for r in roles):
        raise OfficerError("roles: one or more of e.g. dgm gm (lower case)")
    if not offices or not all(OFFICE.fullmatch(o) for o in offices):
        raise OfficerError("offices: one or more office codes, e.g. DIV-BPL-1")
    if session.execute(select(Officer.id).where(Officer.username == username)).first() is not None:
        raise OfficerError(f"officer {username!r} already exists")
    officer = Officer(
        username=username,
        name=" ".join(name.split()),
        password_hash=_hasher.hash(password),
        roles=roles,
        offices=offices,
        active=True,
        created_at=utcnow(),
    )
    session.add(officer)
    session.flush()
    return officer


def authenticate(session: Session, username: str, password: str) -> Officer | None:
    """The officer if the password is right and the account usable; None otherwise (one answer for all).

    The caller throttles attempts (hub.throttle) before asking.
    """
    officer = session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()
    if officer is None or not officer.active:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(officer.password_hash, password):
        return None
    officer.last_login_at = utcnow()
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = _hasher.hash(password)
    return officer


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
