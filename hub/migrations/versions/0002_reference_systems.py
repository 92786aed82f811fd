"""Reference billing and KYC systems: offices, consumers, ledger, meters, Samagra, KYC.

Also creates ``ref_system_status`` (the on/off switch every reference backend
reads; model in connectors/reference_db.py) and ``ref_counter``.

Revision ID: 0002_reference_systems
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_reference_systems"
down_revision = "0001_core"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ref_system_status",
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("down", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", name="pk_ref_system_status"),
    )
    op.create_table(
        "ref_counter",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ref_counter"),
    )
    op.create_table(
        "ref_office",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("name_en", sa.String(80), nullable=False),
        sa.Column("name_hi", sa.String(80), nullable=False),
        sa.Column("district", sa.String(40), nullable=False),
        sa.Column("parent_code", sa.String(16), nullable=True),
        sa.Column("dc_number", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_ref_office"),
        sa.UniqueConstraint("dc_number", name="uq_ref_office_dc_number"),
    )
    op.create_table(
        "ref_consumer",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("name_hi", sa.String(120), nullable=False),
        sa.Column("samagra_id", sa.String(9), nullable=True),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("district", sa.String(40), nullable=False),
        sa.Column("dc_code", sa.String(16), nullable=False),
        sa.Column("zone_code", sa.String(16), nullable=False),
        sa.Column("division_code", sa.String(16), nullable=False),
        sa.Column("circle_code", sa.String(16), nullable=False),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("connection_status", sa.String(24), nullable=False),
        sa.Column("connected_on", sa.Date(), nullable=False),
        sa.Column("application_reference", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ref_consumer"),
        sa.UniqueConstraint("consumer_number", name="uq_ref_consumer_consumer_number"),
        sa.UniqueConstraint("application_reference", name="uq_ref_consumer_application_reference"),
    )
    op.create_index("ix_ref_consumer_samagra_id", "ref_consumer", ["samagra_id"])
    op.create_index("ix_ref_consumer_mobile", "ref_consumer", ["mobile"])
    op.create_table(
        "ref_ledger_entry",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("receipt_number", sa.String(32), nullable=True),
        sa.Column("note", sa.String(120), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ref_ledger_entry"),
        sa.UniqueConstraint("reference", name="uq_ref_ledger_entry_reference"),
    )
    op.create_index(
        "ix_ref_ledger_entry_consumer_date", "ref_ledger_entry", ["consumer_number", "entry_date"]
    )
    op.create_table(
        "ref_meter",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("meter_number", sa.String(16), nullable=False),
        sa.Column("meter_type", sa.String(12), nullable=False),
        sa.Column("health", sa.String(8), nullable=False),
        sa.Column("supply", sa.String(12), nullable=False),
        sa.Column("last_read_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ref_meter"),
        sa.UniqueConstraint("consumer_number", name="uq_ref_meter_consumer_number"),
        sa.UniqueConstraint("meter_number", name="uq_ref_meter_meter_number"),
    )
    op.create_table(
        "ref_samagra_person",
        sa.Column("samagra_id", sa.String(9), nullable=False),
        sa.Column("family_id", sa.String(8), nullable=False),
        sa.Column("name_en", sa.String(120), nullable=False),
        sa.Column("name_hi", sa.String(120), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=True),
        sa.Column("district", sa.String(40), nullable=False),
        sa.Column("bank_account", sa.String(18), nullable=True),
        sa.Column("ifsc", sa.String(11), nullable=True),
        sa.PrimaryKeyConstraint("samagra_id", name="pk_ref_samagra_person"),
    )
    op.create_index("ix_ref_samagra_person_family_id", "ref_samagra_person", ["family_id"])
    op.create_index("ix_ref_samagra_person_mobile", "ref_samagra_person", ["mobile"])
    op.create_table(
        "ref_kyc_record",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("consumer_number", sa.String(12), nullable=False),
        sa.Column("samagra_id", sa.String(9), nullable=True),
        sa.Column("holder_name_en", sa.String(120), nullable=False),
        sa.Column("holder_name_hi", sa.String(120), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=True),
        sa.Column("bank_account", sa.String(18), nullable=True),
        sa.Column("ifsc", sa.String(11), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("kyc_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ref_kyc_record"),
        sa.UniqueConstraint("consumer_number", name="uq_ref_kyc_record_consumer_number"),
        sa.UniqueConstraint("change_seq", name="uq_ref_kyc_record_change_seq"),
    )
    op.create_index("ix_ref_kyc_record_samagra_id", "ref_kyc_record", ["samagra_id"])
    op.create_index("ix_ref_kyc_record_mobile", "ref_kyc_record", ["mobile"])


def downgrade() -> None:
    for index, table in (
        ("ix_ref_kyc_record_mobile", "ref_kyc_record"),
        ("ix_ref_kyc_record_samagra_id", "ref_kyc_record"),
        ("ix_ref_samagra_person_mobile", "ref_samagra_person"),
        ("ix_ref_samagra_person_family_id", "ref_samagra_person"),
        ("ix_ref_ledger_entry_consumer_date", "ref_ledger_entry"),
        ("ix_ref_consumer_mobile", "ref_consumer"),
        ("ix_ref_consumer_samagra_id", "ref_consumer"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "ref_kyc_record",
        "ref_samagra_person",
        "ref_meter",
        "ref_ledger_entry",
        "ref_consumer",
        "ref_office",
        "ref_counter",
        "ref_system_status",
    ):
        op.drop_table(table)
