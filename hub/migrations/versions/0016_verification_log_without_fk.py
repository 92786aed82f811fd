"""document_verifications.document_id loses its foreign key: a verification no longer locks the certificate's row.

A foreign key check runs per inserted row and takes ``FOR KEY SHARE`` on the
referenced ``issued_documents`` row: PostgreSQL writes that lock into the
certificate's tuple (a dirtied page and a WAL record), so every verification
of the read-only registry wrote to it. Measured on PostgreSQL 15 with
1,000,000 certificates and 200,000 log rows at random ones: 7.5-8.7 µs of
the database's time per row with the key, 3.0 without. The id is never
chosen by a caller: the hub copies it from the registry entry it answered
from, and certificates are revoked or superseded, never deleted, so the key
guarded against nothing that can happen. The index on the column stays (a
certificate's verification history is read by it).

Revision ID: 0016_verification_log_without_fk
Revises: 0015_verification_feed
"""

from __future__ import annotations

from alembic import op

revision = "0016_verification_log_without_fk"
down_revision = "0015_verification_feed"
branch_labels = None
depends_on = None

_FK = "fk_document_verifications_document_id_issued_documents"


def upgrade() -> None:
    # batch: SQLite drops a table constraint by rebuilding the table; PostgreSQL alters in place.
    with op.batch_alter_table("document_verifications") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("document_verifications") as batch:
        batch.create_foreign_key(_FK, "issued_documents", ["document_id"], ["id"])
