"""A session joined with hub.db.join_manager behaves as zope.sqlalchemy.register makes it behave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import transaction
import zope.sqlalchemy
from sqlalchemy import Table, event, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hub.db import JOINING_EVENTS, join_manager, make_engine, mark_written


class _Base(DeclarativeBase):
    pass


class Row(_Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int]


_ROWS = cast(Table, Row.__table__)
_METADATA = _Base.metadata


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'join.sqlite'}", pool_size=2)
    _METADATA.create_all(engine)
    yield engine
    engine.dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM rows")).scalar_one())


def test_the_same_events_as_zope_sqlalchemy_register() -> None:
    """If zope.sqlalchemy starts listening to another event, join_manager must hand it on too."""

    class Probe(Session):
        pass

    ext = zope.sqlalchemy.register(Probe)
    names = [name for name in dir(Probe.dispatch) if not name.startswith("_")]
    registered = {
        name
        for name in names
        if callable(getattr(ext, name, None)) and event.contains(Probe, name, getattr(ext, name))
    }
    assert registered == set(JOINING_EVENTS)


def test_core_write_marked_written_commits_with_the_transaction(engine: Engine) -> None:
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = Session(bind=engine)
        join_manager(session, manager)
        session.connection().execute(insert(_ROWS), {"n": 1})
        mark_written(session)
    assert _count(engine) == 1


def test_core_write_not_marked_is_rolled_back(engine: Engine) -> None:
    """zope.sqlalchemy's rule: a session that saw no flush and no mark is read-only, rolled back."""
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = Session(bind=engine)
        join_manager(session, manager)
        session.connection().execute(insert(_ROWS), {"n": 1})
    assert _count(engine) == 0


def test_orm_statements_and_flushes_mark_the_session(engine: Engine) -> None:
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = Session(bind=engine)
        join_manager(session, manager)
        session.add(Row(n=1))  # a flush: after_flush
    assert _count(engine) == 1
    with manager:
        session = Session(bind=engine)
        join_manager(session, manager)
        session.execute(insert(Row), [{"n": 2}])  # ORM DML: do_orm_execute
    assert _count(engine) == 2
    with manager:
        session = Session(bind=engine)
        join_manager(session, manager)
        session.execute(update(Row).values(n=5))
    with engine.connect() as conn:
        assert set(conn.execute(select(_ROWS.c.n)).scalars()) == {5}


def test_abort_rolls_back_a_marked_write(engine: Engine) -> None:
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    session = Session(bind=engine)
    join_manager(session, manager)
    session.connection().execute(insert(_ROWS), {"n": 1})
    mark_written(session)
    manager.abort()
    assert _count(engine) == 0


def test_commit_outside_the_manager_is_refused(engine: Engine) -> None:
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = Session(bind=engine)
        join_manager(session, manager)
        session.connection().execute(insert(_ROWS), {"n": 1})
        mark_written(session)
        with pytest.raises(AssertionError, match="transaction manager"):
            session.commit()
        manager.abort()
        manager.begin()


def test_keep_session_keeps_what_the_session_holds(engine: Engine) -> None:
    held = {}
    for keep in (True, False):
        manager = transaction.TransactionManager(explicit=True)
        with manager:
            session = Session(bind=engine, expire_on_commit=False)
            join_manager(session, manager, keep_session=keep)
            row = Row(n=1)
            session.add(row)
        held[keep] = row in session
    # keep_session=False closes the session after the commit (its objects detached); True keeps them.
    assert held == {True: True, False: False}
    assert _count(engine) == 2


def test_a_session_not_joined_commits_itself(engine: Engine) -> None:
    with Session(bind=engine) as session:
        session.connection().execute(insert(_ROWS), {"n": 1})
        mark_written(session)  # nothing to tell: the caller commits
        session.commit()
    assert _count(engine) == 1
