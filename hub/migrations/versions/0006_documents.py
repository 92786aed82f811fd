"""Registry of issued documents, number series, verification log.

Revision ID: 0006_documents
Revises: 0005_soap_nonces
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0006_documents"
down_revision = "0005_soap_nonces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_series",
        sa.Column("series", sa.String(64), nullable=False),
        sa.Column("last_value", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("series", name="pk_document_series"),
    )
    op.create_table(
        "issued_documents",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("series", sa.String(64), nullable=False),
        sa.Column("verification_code_sha256", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("holder_samagra_id", sa.String(16), nullable=True),
        sa.Column("public_summary", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("xml_sha256", sa.String(64), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("requested_by_client", sa.String(64), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revocation_reason", sa.Text, nullable=True),
        sa.Column("superseded_by_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_issued_documents"),
        sa.UniqueConstraint("number", name="uq_issued_documents_number"),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["issued_documents.id"],
            name="fk_issued_documents_superseded_by_id_issued_documents",
        ),
    )
    op.create_index("ix_issued_documents_subject", "issued_documents", ["subject_type", "subject_id"])
    op.create_index("ix_issued_documents_holder_samagra_id", "issued_documents", ["holder_samagra_id"])
    op.create_table(
        "issued_document_files",
        sa.Column("document_id", sa.Integer, nullable=False),
        sa.Column("xml", sa.LargeBinary, nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("qr_payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("document_id", name="pk_issued_document_files"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["issued_documents.id"],
            name="fk_issued_document_files_document_id_issued_documents",
        ),
    )
    op.create_table(
        "document_verifications",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("document_id", sa.Integer, nullable=True),
        sa.Column("number_given", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("verifier", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_document_verifications"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["issued_documents.id"],
            name="fk_document_verifications_document_id_issued_documents",
        ),
    )
    op.create_index("ix_document_verifications_document_id", "document_verifications", ["document_id"])


def downgrade() -> None:
    op.drop_table("document_verifications")
    op.drop_table("issued_document_files")
    op.drop_table("issued_documents")
    op.drop_table("document_series")
