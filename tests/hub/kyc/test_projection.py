"""The export's NDJSON lines are exactly ``json.dumps`` of the records ``Projector.project`` returns."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from hub.crypto import SecretBox
from hub.kyc.policy import KYC_FIELDS, FieldPolicy, Projector

BOX = SecretBox("test-secret-key", "bank-account")


def _stored(**overrides: Any) -> dict[str, Any]:
    row = {
        "consumer_number": "1019990020",
        "holder_name_en": "Sunita Devi Verma",
        "holder_name_hi": "सुनीता देवी वर्मा",
        "samagra_id": "900000021",
        "mobile": "9999000021",
        "bank_account_enc": BOX.encrypt("50100234567812"),
        "bank_account_last4": "7812",
        "ifsc": "HDFC0001234",
        "status": "complete",
        "kyc_date": date(2026, 10, 2),
    }
    return row | overrides


ROWS = [
    _stored(),
    # Nullable columns empty: null in the record, no mask, no decryption.
    _stored(
        samagra_id=None, mobile=None, bank_account_enc=None, bank_account_last4=None, ifsc=None, kyc_date=None
    ),
    # What JSON must escape, and what it must leave alone.
    _stored(holder_name_en='Ram "Raju" \\ Verma\t\n\x01', holder_name_hi="राम\u2028लाल", status="पूर्ण"),
]
POLICIES = [
    FieldPolicy("c_1", "ladli-behna", KYC_FIELDS, False, False),
    FieldPolicy("c_1", "ladli-behna", KYC_FIELDS, True, False),
    FieldPolicy("c_1", "ladli-behna", ("holder_name_hi", "bank_account", "kyc_date"), False, True),
    FieldPolicy("c_1", "ladli-behna", ("kyc_status",), True, False),
]


@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: f"{len(p.fields)}-fields-full-{p.full_bank_account}"
)
def test_ndjson_line_is_json_dumps_of_the_projected_record(policy: FieldPolicy) -> None:
    projector = Projector(policy, BOX)
    for stored in ROWS:
        record = projector.project(stored)
        assert list(record) == list(policy.fields)
        line = projector.ndjson_line(tuple(stored[column] for column in projector.columns))
        assert line == json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        assert json.loads(line) == record


def test_projection_masks_or_decrypts_the_account_as_the_policy_says() -> None:
    masked = Projector(POLICIES[0], BOX)
    full = Projector(POLICIES[1], BOX)
    assert masked.project(ROWS[0])["bank_account"] == "XXXXXX7812"
    # A masked policy never reads the ciphertext at all.
    assert "bank_account_enc" not in masked.columns
    assert full.project(ROWS[0])["bank_account"] == "50100234567812"
    assert full.project(ROWS[0])["kyc_date"] == "2026-10-02"
    assert (masked.project(ROWS[1])["bank_account"], full.project(ROWS[1])["bank_account"]) == (None, None)
