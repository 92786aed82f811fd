"""The verification log keyed to its certificate again, and holder SMS claimed by a mark, not a cursor.

* ``document_verifications.document_id`` gets back its foreign key to
  ``issued_documents``: a log row names a certificate that exists.
* ``document_verifications.notify_holder``: True on an authority's check not yet
  told to the holder; hub-worker claims such rows with a conditional UPDATE. A
  cursor by id (``feed_cursors``) missed rows whose transaction committed after a
  later id's. Rows past the old cursor are marked, so none is lost in the change.
* ``registry_changes`` and ``feed_cursors`` go: nothing follows them any more.

Revision ID: 0019_verification_log_keyed
Revises: 0018_sign_in_failures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.models.meta import UTCDateTime

revision = "0019_verification_log_keyed"
down_revision = "0018_sign_in_failures"
branch_labels = None
depends_on = None

_FK = "fk_document_verifications_document_id_issued_documents"
_DUE = "ix_document_verifications_notify_holder"
_CURSOR = "election.holder_notices"


def upgrade() -> None:
    # batch: SQLite adds a table constraint by rebuilding the table; PostgreSQL alters in place.
    with op.batch_alter_table("document_verifications") as batch:
        batch.add_column(sa.Column("notify_holder", sa.Boolean(), nullable=True))
        batch.create_foreign_key(_FK, "issued_documents", ["document_id"], ["id"])
    op.execute(
        sa.text(
            "UPDATE document_verifications SET notify_holder = true "
            "WHERE client_id IS NOT NULL AND document_id IS NOT NULL AND id > "
            "COALESCE((SELECT position FROM feed_cursors WHERE name = :cursor), 0)"
        ).bindparams(cursor=_CURSOR)
    )
    op.create_index(
        _DUE,
        "document_verifications",
        ["id"],
        postgresql_where=sa.text("notify_holder"),
        sqlite_where=sa.text("notify_holder"),
    )
    op.drop_table("feed_cursors")
    op.drop_table("registry_changes")


def downgrade() -> None:
    op.create_table(
        "registry_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_changes"),
    )
    op.create_table(
        "feed_cursors",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_feed_cursors"),
    )
    # Marked rows are not yet told: the cursor starts before the first of them.
    op.execute(
        sa.text(
            "INSERT INTO feed_cursors (name, position, updated_at) SELECT :cursor, "
            "COALESCE((SELECT MIN(id) - 1 FROM document_verifications WHERE notify_holder), "
            "(SELECT MAX(id) FROM document_verifications), 0), CURRENT_TIMESTAMP"
        ).bindparams(cursor=_CURSOR)
    )
    op.drop_index(_DUE, table_name="document_verifications")
    with op.batch_alter_table("document_verifications") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_column("notify_holder")
