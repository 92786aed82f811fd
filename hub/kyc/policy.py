"""What a DBT client may receive: field policies per (client, purpose), and the projection of a record.

Deny by default: a client without a policy row for a purpose receives
nothing for it, even when the purpose is among its ``PartnerClient.purposes``.
Bank accounts leave masked (``XXXXXX`` + last four digits, never decrypted)
unless the policy grants the full number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.crypto import SecretBox
from hub.models.client import PartnerClient
from hub.models.kyc import KycFieldPolicy
from hub.models.meta import utcnow

# Every field a KYC record can release, in output order.
KYC_FIELDS: tuple[str, ...] = (
    "consumer_number",
    "holder_name_en",
    "holder_name_hi",
    "samagra_id",
    "mobile",
    "bank_account",
    "ifsc",
    "kyc_status",
    "kyc_date",
)
# Scheme names as they appear in purposes: short, stable, URL- and OTP-purpose-safe.
PURPOSE = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
MASK_PREFIX = "XXXXXX"


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class FieldPolicy:
    client_id: str
    purpose: str
    fields: tuple[str, ...]
    full_bank_account: bool
    uniform_absent: bool

    @property
    def bank_account_form(self) -> str | None:
        if "bank_account" not in self.fields:
            return None
        return "full" if self.full_bank_account else "masked"

    def disclosed_fields(self) -> list[str]:
        """Field names as the disclosure log states them (bank account with its form)."""
        return [
            f"bank_account:{self.bank_account_form}" if name == "bank_account" else name
            for name in self.fields
        ]


def parse_fields(raw: str | Iterable[str]) -> tuple[str, ...]:
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw) if n.strip()]
    unknown = sorted(set(names) - set(KYC_FIELDS))
    if unknown:
        raise PolicyError(f"unknown fields: {', '.join(unknown)} (known: {', '.join(KYC_FIELDS)})")
    if not names:
        raise PolicyError("a policy releases at least one field")
    # Canonical order, no duplicates: the same policy always renders the same columns.
    return tuple(name for name in KYC_FIELDS if name in names)


def load_policy(session: Session, client_id: str, purpose: str) -> FieldPolicy | None:
    row = session.execute(
        select(KycFieldPolicy).where(KycFieldPolicy.client_id == client_id, KycFieldPolicy.purpose == purpose)
    ).scalar_one_or_none()
    if row is None:
        return None
    return FieldPolicy(
        row.client_id,
        row.purpose,
        parse_fields(row.fields),
        bool(row.full_bank_account),
        bool(row.uniform_absent),
    )


def set_policy(
    session: Session,
    client_id: str,
    purpose: str,
    fields: str | Iterable[str],
    *,
    full_bank_account: bool = False,
    uniform_absent: bool = False,
) -> FieldPolicy:
    """Create or replace the policy; the purpose must already be one of the client's purposes."""
    if not PURPOSE.fullmatch(purpose):
        raise PolicyError("purpose: 2-40 characters, lower-case letters, digits, '.', '_', '-'")
    client = session.execute(
        select(PartnerClient).where(PartnerClient.client_id == client_id)
    ).scalar_one_or_none()
    if client is None:
        raise PolicyError(f"no client {client_id}")
    if purpose not in (client.purposes or []):
        raise PolicyError(f"{purpose!r} is not one of the client's purposes {client.purposes}")
    names = parse_fields(fields)
    row = session.execute(
        select(KycFieldPolicy).where(KycFieldPolicy.client_id == client_id, KycFieldPolicy.purpose == purpose)
    ).scalar_one_or_none()
    if row is None:
        row = KycFieldPolicy(client_id=client_id, purpose=purpose)
        session.add(row)
    row.fields = ",".join(names)
    row.full_bank_account = full_bank_account
    row.uniform_absent = uniform_absent
    row.updated_at = utcnow()
    session.flush()
    return FieldPolicy(client_id, purpose, names, full_bank_account, uniform_absent)


def known_purposes(session: Session) -> set[str]:
    """Purposes some client holds a policy for: what a person can consent to."""
    return set(session.execute(select(KycFieldPolicy.purpose).distinct()).scalars())


# Field -> the kyc_records column it is read from (bank_account: see Projector).
_COLUMN = {name: name for name in KYC_FIELDS} | {"kyc_status": "status"}


def _iso_date(value: date) -> str:
    return value.isoformat()


class Projector:
    """Turns stored KYC columns into the released record for one policy (hot path: no per-row lookups).

    ``project`` takes a mapping with the kyc_records column names and returns
    the record; ``ndjson_line`` takes a plain row in :attr:`columns` order and
    returns the same record as one NDJSON line, without the dict and the
    generic ``json.dumps`` per record (an export writes a million of them;
    tests/hub/kyc/test_projection.py holds the two forms equal).
    """

    def __init__(self, policy: FieldPolicy, box: SecretBox) -> None:
        self.policy = policy
        self._box = box
        # Per field: (name, column, conversion of a non-null stored value or None for "as is").
        plan: list[tuple[str, str, Callable[[Any], str] | None]] = []
        for name in policy.fields:
            if name == "bank_account":
                if policy.full_bank_account:
                    plan.append((name, "bank_account_enc", box.decrypt))
                else:
                    plan.append((name, "bank_account_last4", MASK_PREFIX.__add__))
            elif name == "kyc_date":
                plan.append((name, "kyc_date", _iso_date))
            else:
                plan.append((name, _COLUMN[name], None))
        self._plan = tuple(plan)
        #: The columns ``ndjson_line`` reads, in the order it expects them.
        self.columns: tuple[str, ...] = tuple(dict.fromkeys(column for _, column, _ in plan))
        at = {column: index for index, column in enumerate(self.columns)}
        self._line_plan = tuple(
            (("{" if i == 0 else ",") + encode_basestring(name) + ":", at[column], convert)
            for i, (name, column, convert) in enumerate(plan)
        )

    def project(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, column, convert in self._plan:
            value = row[column]
            out[name] = convert(value) if convert is not None and value is not None else value
        return out

    def ndjson_line(self, row: Sequence[Any]) -> str:
        """``json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\\n"`` for ``row``."""
        parts = []
        for prefix, index, convert in self._line_plan:
            value = row[index]
            if value is None:
                parts.append(prefix + "null")
            elif convert is None:
                parts.append(prefix + encode_basestring(value))
            else:
                parts.append(prefix + encode_basestring(convert(value)))
        parts.append("}\n")
        return "".join(parts)
