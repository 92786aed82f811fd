"""audit_log.hash loses its unique index: the chain already makes it unique, and the index was a third of a disclosure's cost.

Every entry's hash covers its ``seq`` (the primary key) and the previous
entry's hash, so two rows could share a hash only through a SHA-256 collision;
forks are prevented by the primary key and the chain lock (hub.audit), and
tampering is found by ``verify_chain`` recomputing every hash, never by this
index. Nothing looks entries up by hash. What the index did cost: a B-tree
insert at a random position per entry, 7 of 19 microseconds of PostgreSQL's
time per row when a KYC export appends a million disclosure entries
(bench/bench_kyc.py), growing as the log grows past memory.

Revision ID: 0014_audit_hash_not_unique
Revises: 0013_registry_feed
"""

from __future__ import annotations

from alembic import op

revision = "0014_audit_hash_not_unique"
down_revision = "0013_registry_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite drops a table constraint by rebuilding the table; PostgreSQL alters in place.
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.create_unique_constraint("uq_audit_log_hash", ["hash"])
