"""On SQLite, an officer signs in while another process keeps committing writes.

SQLite refuses the write of a transaction that read before another connection committed
("database is locked", at once, without waiting). The hub's first attempt of a request reads
without the write lock; pyramid_retry's later attempts take it when they begin, so a sign-in that
keeps losing the race still gets through instead of answering 503.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.console.officers import create_officer
from tests.conftest import database_kind

pytestmark = pytest.mark.skipif(database_kind() != "sqlite", reason="SQLite's single writer")

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def busy_neighbour(live_engine: Engine) -> Iterator[list[str]]:
    """After each read of the officers' table, another connection commits a write, as hub-worker does.

    It waits for nobody (timeout 0): while a request holds the write lock, its write is simply
    refused, the way a real neighbour would retry later. Returns what the neighbour managed.
    """
    path = live_engine.url.database
    assert path
    outcomes: list[str] = []

    def after_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("SELECT") or "officers" not in statement:
            return
        neighbour = sqlite3.connect(path, timeout=0)
        try:
            neighbour.execute(
                "UPDATE officers SET name = 'Worker ' || hex(randomblob(4)) WHERE username = 'neighbour'"
            )
            neighbour.commit()
            outcomes.append("committed")
        except sqlite3.OperationalError:
            outcomes.append("waited")
        finally:
            neighbour.close()

    event.listen(live_engine, "after_cursor_execute", after_execute)
    yield outcomes
    event.remove(live_engine, "after_cursor_execute", after_execute)


def test_an_officer_signs_in_while_another_writer_commits_between_every_read_and_write(
    live_app: TestApp, live_engine: Engine, busy_neighbour: list[str]
) -> None:
    with Session(live_engine) as session, session.begin():
        create_officer(session, "dgm.busy", "Suresh Verma", PASSWORD, ["dgm"], ["DIV-BPL-1"])
        create_officer(session, "neighbour", "Worker", PASSWORD, ["dgm"], ["DIV-BPL-1"])
    live_app.extra_environ["wsgi.url_scheme"] = "https"
    token = CSRF.search(live_app.get("/console/login").text)
    assert token is not None
    busy_neighbour.clear()

    answer = live_app.post(
        "/console/login",
        {"username": "dgm.busy", "password": PASSWORD, "csrf_token": token.group(1)},
        expect_errors=True,
    )

    assert answer.status_int == 302, answer.text
    # The first attempt lost the race to the neighbour; a later one held the lock and won it.
    assert busy_neighbour[0] == "committed" and "waited" in busy_neighbour
