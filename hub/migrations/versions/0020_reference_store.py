"""The reference backends leave the hub's database for a store of their own.

The simulated outside systems keep their tables in the reference store
(``hub.reference.database_url``, created by connectors.reference_db), so the
hub's database drops every ``ref_`` table. Demo data is loaded again into the
reference store with ``hub-admin <ini> demo-data``.

Downgrade recreates the tables empty (their data lives in the reference store).

Revision ID: 0020_reference_store
Revises: 0018_sign_in_failures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_reference_store"
down_revision = "0019_verification_log_keyed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # By prefix, not by list: every reference table ever added to the hub's database goes.
    names = [n for n in sa.inspect(op.get_bind()).get_table_names() if n.startswith("ref_")]
    for name in sorted(names):
        op.drop_table(name)


def downgrade() -> None:
    from connectors.reference_db import ReferenceBase, load_reference_tables

    load_reference_tables()
    ReferenceBase.metadata.create_all(op.get_bind(), checkfirst=True)
