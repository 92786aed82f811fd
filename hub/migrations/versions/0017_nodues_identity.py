"""nodues_applications: how the applicant proved to be the person named, and what they typed.

The certificate names the person the Samagra registry records under the
Samagra ID (``name_deva``/``name_latin`` now hold the registry's names); what
the applicant typed stays beside it for the officer (``typed_name_*``) with
the outcome of comparing the two (``name_check``: match / mismatch).
``identity_proof`` says how the applicant showed they are that person:
``ekyc`` (the account's e-KYC carries this Samagra ID) or ``samagra_otp`` (an
OTP to the mobile the registry holds for the person). Applications filed
before have none: they never supersede a certificate.

Revision ID: 0017_nodues_identity
Revises: 0016_verification_log_without_fk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_nodues_identity"
down_revision = "0016_verification_log_without_fk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodues_applications") as batch:
        batch.add_column(sa.Column("typed_name_deva", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("typed_name_latin", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("name_check", sa.String(12), nullable=True))
        batch.add_column(sa.Column("identity_proof", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodues_applications") as batch:
        batch.drop_column("identity_proof")
        batch.drop_column("name_check")
        batch.drop_column("typed_name_latin")
        batch.drop_column("typed_name_deva")
