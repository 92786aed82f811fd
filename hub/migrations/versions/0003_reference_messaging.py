"""Reference messaging systems: SMS gateway, payment gateway, meter head-end, single window, DBT.

The tables of the simulated outside systems in connectors/{sms,payment,headend,
singlewindow,dbt}/reference.py. ``ref_system_status`` (their on/off switch) is
created by 0002_reference_systems.

Revision ID: 0003_reference_messaging
Revises: 0002_reference_systems
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reference_messaging"
down_revision = "0002_reference_systems"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ref_sms_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("mobile", sa.String(10), nullable=False),
        sa.Column("sender_id", sa.String(6), nullable=False),
        sa.Column("template_name", sa.String(40), nullable=False),
        sa.Column("template_id", sa.String(30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(10), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ref_sms_message"),
        sa.UniqueConstraint("message_id", name="uq_ref_sms_message_message_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_ref_sms_message_idempotency_key"),
    )
    op.create_index("ix_ref_sms_message_mobile", "ref_sms_message", ["mobile"])

    op.create_table(
        "ref_payment_order",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("gateway_txn_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("paid_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("order_id", name="pk_ref_payment_order"),
        sa.UniqueConstraint("reference", name="uq_ref_payment_order_reference"),
        sa.UniqueConstraint("gateway_txn_id", name="uq_ref_payment_order_gateway_txn_id"),
    )

    op.create_table(
        "ref_hes_meter",
        sa.Column("meter_no", sa.String(30), nullable=False),
        sa.Column("relay", sa.String(12), nullable=False),
        sa.Column("communicating", sa.Boolean(), nullable=False),
        sa.Column("last_seen", UTC_TIME, nullable=True),
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
        sa.Column("requested_at", UTC_TIME, nullable=False),
        sa.Column("executed_at", UTC_TIME, nullable=True),
        sa.Column("failure_code", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("command_id", name="pk_ref_hes_command"),
        sa.UniqueConstraint("idempotency_key", name="uq_ref_hes_command_idempotency_key"),
    )
    op.create_index("ix_ref_hes_command_meter_no", "ref_hes_command", ["meter_no"])

    op.create_table(
        "ref_sw_delivery",
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("application_id", sa.String(100), nullable=False),
        sa.Column("application_no", sa.String(100), nullable=False),
        sa.Column("status", sa.String(60), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTC_TIME, nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_ref_sw_delivery"),
    )
    op.create_index("ix_ref_sw_delivery_application_id", "ref_sw_delivery", ["application_id"])

    op.create_table(
        "ref_dbt_notification",
        sa.Column("notification_id", sa.String(100), nullable=False),
        sa.Column("scheme", sa.String(100), nullable=False),
        sa.Column("cursor", sa.String(200), nullable=False),
        sa.Column("changed_count", sa.Integer(), nullable=False),
        sa.Column("as_of", UTC_TIME, nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name="pk_ref_dbt_notification"),
    )
    op.create_index("ix_ref_dbt_notification_scheme", "ref_dbt_notification", ["scheme"])


def downgrade() -> None:
    op.drop_index("ix_ref_dbt_notification_scheme", table_name="ref_dbt_notification")
    op.drop_table("ref_dbt_notification")
    op.drop_index("ix_ref_sw_delivery_application_id", table_name="ref_sw_delivery")
    op.drop_table("ref_sw_delivery")
    op.drop_index("ix_ref_hes_command_meter_no", table_name="ref_hes_command")
    op.drop_table("ref_hes_command")
    op.drop_table("ref_hes_meter")
    op.drop_table("ref_payment_order")
    op.drop_index("ix_ref_sms_message_mobile", table_name="ref_sms_message")
    op.drop_table("ref_sms_message")
