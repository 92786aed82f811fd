"""The tables of the reference backends: the discom's systems, simulated.

They live in the hub's database under a ``ref_`` prefix but on their own
metadata, so the hub's models never depend on them and a deployment with the
real systems simply leaves them empty. Alembic creates them (the hub's
migration environment includes this metadata).
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ReferenceBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
