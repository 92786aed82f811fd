"""The reference head-end speaks the connect/disconnect protocol: commands keyed by the caller's
transaction id with an expiry and a response URL; meters that cannot switch remotely; simulated faults.

The previous ref_hes_* tables never held data (no meters were seeded), so they are recreated.

Revision ID: 0024_reference_headend
Revises: 0023_meter_commands
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_reference_headend"
down_revision = "0023_meter_commands"
branch_labels = None
depends_on = None


def _drop_new() -> None:
    op.drop_index("ix_ref_hes_command_meter_no", table_name="ref_hes_command")
    op.drop_table("ref_hes_command")
    op.drop_table("ref_hes_meter")


def upgrade() -> None:
    _drop_new()
    op.create_table(
        "ref_hes_meter",
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("relay", sa.String(12), nullable=False),
        sa.Column("communicating", sa.Boolean(), nullable=False),
        sa.Column("remote_switch", sa.Boolean(), nullable=False),
        sa.Column("simulate", sa.String(10), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("meter_no", name="pk_ref_hes_meter"),
    )
    op.create_table(
        "ref_hes_command",
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("response_url", sa.String(500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_ref_hes_command"),
    )
    op.create_index("ix_ref_hes_command_meter_no", "ref_hes_command", ["meter_no"])


def downgrade() -> None:
    _drop_new()
    op.create_table(
        "ref_hes_meter",
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("relay", sa.String(12), nullable=False),
        sa.Column("communicating", sa.Boolean(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("meter_no", name="pk_ref_hes_meter"),
    )
    op.create_table(
        "ref_hes_command",
        sa.Column("command_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("command_id", name="pk_ref_hes_command"),
        sa.UniqueConstraint("idempotency_key", name="uq_ref_hes_command_idempotency_key"),
    )
    op.create_index("ix_ref_hes_command_meter_no", "ref_hes_command", ["meter_no"])
