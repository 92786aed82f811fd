"""The hub's copy of each connection's KYC, and the change feed DBT schemes follow.

Two writers feed it: the hub's own e-KYC flow (``source="ekyc"``) and the
periodic sync from the KYC connector's change feed (``source="sync"``). Both
go through :func:`record_ekyc`, which upserts the row keyed by consumer number
and appends a change-feed entry when something a scheme cares about changed.

Bank account numbers are encrypted at rest (``SecretBox`` purpose
"bank-account", key from ``hub.secret_key``). The key is handed over once per
process by :func:`configure` (``hub.kyc``'s ``includeme`` does it, so the web
processes, ``hub-worker`` and ``hub-admin`` all get it) or per call.

Aadhaar numbers are never stored: :class:`connectors.kyc.KycRecord` has no
such field, and a value that looks like one in a field that should not hold
it (a 12-digit "Samagra ID" or "mobile") is refused here, before the database.

Feed order: ``kyc_changes.id`` is the position readers page by. On PostgreSQL
sequence values are handed out at INSERT but become visible at COMMIT, so a
reader could pass id 11 while id 10 is still uncommitted and never see it.
Writers therefore take a transaction-level advisory lock before appending:
ids then become visible in order. (SQLite has one writer at a time anyway.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.kyc import KycRecord
from forms.identifiers import MOBILE
from hub.crypto import SecretBox
from hub.db import lock_feed as lock_change_feed
from hub.models.kyc import ConnectionKyc, KycChange
from hub.models.meta import utcnow

SOURCES = ("ekyc", "sync")
# pg_advisory_xact_lock key for the change feed ("kycfeed" in ASCII).
_PG_FEED_LOCK = 0x6B7963666565

# Any script's digits: an Aadhaar number typed in Devanagari digits is still one.
_DIGITS = re.compile(r"\d+")
# ASCII digits only ("\d" would take any script's digits, which no bank or registry issues).
_SAMAGRA = re.compile(r"[0-9]{8,9}")
_IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
_BANK_ACCOUNT = re.compile(r"[0-9]{9,18}")


class KycRecordRejected(ValueError):
    """A source record the hub refuses to store (malformed, or carrying what looks like an Aadhaar)."""


@dataclass(frozen=True)
class _Keys:
    box: SecretBox
    mac_key: bytes


_configured: _Keys | None = None


def _keys_for(secret_key: str) -> _Keys:
    mac_key = hashlib.sha256(b"kyc-bank-account-mac\x00" + secret_key.encode("utf-8")).digest()
    return _Keys(SecretBox(secret_key, "bank-account"), mac_key)


def configure(secret_key: str) -> None:
    """Give this process the key bank accounts are encrypted with (once, at start-up)."""
    global _configured  # noqa: PLW0603 - one key per process, set at configuration time
    _configured = _keys_for(secret_key)


def bank_box(secret_key: str | None = None) -> SecretBox:
    """The SecretBox for bank accounts (configured key unless ``secret_key`` is given)."""
    return _keys(secret_key).box


def _keys(secret_key: str | None) -> _Keys:
    if secret_key is not None:
        return _keys_for(secret_key)
    if _configured is None:
        raise RuntimeError("hub.kycstore.configure(secret_key) was not called (include hub.kyc)")
    return _configured


def lock_feed(session: Session) -> None:
    """Serialise change-feed appends until the caller's transaction ends (see module doc)."""
    lock_change_feed(session, _PG_FEED_LOCK)


def append_change(
    session: Session,
    kind: str,
    *,
    consumer_number: str | None = None,
    samagra_id: str | None = None,
    purpose: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one change-feed entry in the caller's transaction (takes the feed lock)."""
    lock_feed(session)
    session.add(
        KycChange(
            kind=kind,
            consumer_number=consumer_number,
            samagra_id=samagra_id,
            purpose=purpose,
            at=at or utcnow(),
        )
    )


def _check(record: KycRecord) -> None:
    """Refuse records the hub must not store; the field names, never the values, go in the message."""
    if not record.consumer_number or len(record.consumer_number) > 32:
        raise KycRecordRejected("consumer_number is empty or too long")
    if record.samagra_id is not None and not _SAMAGRA.fullmatch(record.samagra_id):
        # A 12-digit value here is most likely an Aadhaar number in the wrong field.
        raise KycRecordRejected("samagra_id is not an 8-9 digit Samagra ID")
    if record.mobile is not None and not MOBILE.fullmatch(record.mobile):
        raise KycRecordRejected("mobile is not a 10-digit Indian mobile number")
    if record.bank_account is not None and not _BANK_ACCOUNT.fullmatch(record.bank_account):
        raise KycRecordRejected("bank_account is not 9-18 digits")
    if record.ifsc is not None and not _IFSC.fullmatch(record.ifsc):
        raise KycRecordRejected("ifsc is not an IFSC")
    for name, value in (("holder_name_en", record.holder_name_en), ("holder_name_hi", record.holder_name_hi)):
        if len(value) > 200 or "\x00" in value:
            raise KycRecordRejected(f"{name} is too long or holds NUL")
        # A name never carries a run of 12 digits; an Aadhaar number pasted into it would.
        if any(len(run) >= 12 for run in _DIGITS.findall(value)):
            raise KycRecordRejected(f"{name} holds a long digit run (Aadhaar-like)")
    if record.source and len(record.source) > 40:
        raise KycRecordRejected("source is too long")


def bank_account_mac(account: str, secret_key: str | None = None) -> str:
    return hmac.new(_keys(secret_key).mac_key, account.encode("ascii"), hashlib.sha256).hexdigest()


def record_ekyc(session: Session, record: KycRecord, source: str, *, secret_key: str | None = None) -> None:
    """Upsert the hub's KYC record for ``record.consumer_number`` and note the change in the feed.

    ``source``: "ekyc" (the hub's e-KYC flow) or "sync" (the KYC connector).
    Feed entries: ``kyc_new`` for a connection seen the first time,
    ``bank_account_changed`` when the account or IFSC changed, ``kyc_updated``
    when anything else a scheme may hold changed; nothing when nothing did
    (a re-sync of the same record is silent). Raises KycRecordRejected.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    _check(record)
    keys = _keys(secret_key)
    mac = bank_account_mac(record.bank_account, secret_key) if record.bank_account else None
    now = utcnow()
    row = session.execute(
        select(ConnectionKyc).where(ConnectionKyc.consumer_number == record.consumer_number).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = ConnectionKyc(consumer_number=record.consumer_number, created_at=now)
        kind: str | None = "kyc_new"
        session.add(row)
    elif record.updated_at < row.source_updated_at and source == "sync":
        # An older version of the record arriving late (a replayed feed page) never overwrites a newer one.
        return
    elif row.bank_account_mac != mac or row.ifsc != record.ifsc:
        kind = "bank_account_changed"
    elif (
        row.holder_name_en,
        row.holder_name_hi,
        row.samagra_id,
        row.mobile,
        row.status,
        row.kyc_date,
    ) != (
        record.holder_name_en,
        record.holder_name_hi,
        record.samagra_id,
        record.mobile,
        str(record.status),
        record.kyc_date,
    ):
        kind = "kyc_updated"
    else:
        kind = None
    previous_samagra = row.samagra_id
    row.holder_name_en = record.holder_name_en
    row.holder_name_hi = record.holder_name_hi
    row.samagra_id = record.samagra_id
    row.mobile = record.mobile
    if row.bank_account_mac != mac:
        row.bank_account_enc = keys.box.encrypt(record.bank_account) if record.bank_account else None
        row.bank_account_last4 = record.bank_account[-4:] if record.bank_account else None
        row.bank_account_mac = mac
    row.ifsc = record.ifsc
    row.status = str(record.status)
    row.kyc_date = record.kyc_date
    row.source = source
    row.origin = record.source or source
    row.source_updated_at = record.updated_at
    row.updated_at = now
    if kind is not None:
        append_change(session, kind, consumer_number=record.consumer_number, samagra_id=record.samagra_id)
        if previous_samagra and previous_samagra != record.samagra_id:
            # The connection left a person: schemes following that person must hear of it too.
            append_change(
                session, "kyc_updated", consumer_number=record.consumer_number, samagra_id=previous_samagra
            )
    session.flush()
