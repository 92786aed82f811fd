"""Views declaring ``database="lazy"`` (hub.db): a transaction only when the session is touched.

The views here are added to the real app through ``pyramid.includes``; the
certificate verification views are the production users of the mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import transaction
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from webtest import TestApp

from hub import main
from hub.errors import Problem
from hub.models.ratelimit import RateLimitWindow


def _transaction_open(request: Request) -> bool:
    try:
        request.tm.get()
    except transaction.interfaces.NoTransaction:
        return False
    return True


def _read(request: Request) -> dict[str, Any]:
    return {
        "transaction_before": _transaction_open(request),
        # pyramid_retry's attempts for this request (1: no retry, no copy of the body).
        "attempts": request.environ.get("retry.attempts"),
    }


def _write(request: Request) -> dict[str, Any]:
    before = _transaction_open(request)
    request.dbsession.add(RateLimitWindow(bucket=request.json_body["bucket"], window_start=1, count=1))
    request.dbsession.flush()
    return {"transaction_before": before, "transaction_after": _transaction_open(request)}


def _write_then_fail(request: Request) -> dict[str, Any]:
    request.dbsession.add(RateLimitWindow(bucket=request.json_body["bucket"], window_start=1, count=1))
    request.dbsession.flush()
    raise Problem("conflict", "refused after writing")


def includeme(config: Configurator) -> None:
    for name, view in (("read", _read), ("write", _write), ("fail", _write_then_fail)):
        config.add_route(f"test.lazy.{name}", f"/test/lazy/{name}")
        config.add_view(
            view,
            route_name=f"test.lazy.{name}",
            request_method="POST",
            renderer="json",
            public=True,
            database="lazy",
        )


@pytest.fixture(scope="module")
def lazy_app(engine: Engine, app_settings: dict[str, Any]) -> Any:
    return main({}, **app_settings, **{"hub.test_engine": engine, "pyramid.includes": __name__})


@pytest.fixture()
def lazyapp(lazy_app: Any, app_session: Session, tm: transaction.TransactionManager) -> TestApp:
    return TestApp(lazy_app, extra_environ={"hub.dbsession": app_session, "tm.manager": tm})


def _windows(session: Session, bucket: str) -> list[RateLimitWindow]:
    return list(session.scalars(select(RateLimitWindow).where(RateLimitWindow.bucket == bucket)))


def test_a_lazy_view_that_never_touches_the_database_has_no_transaction_and_no_retry(
    lazyapp: TestApp,
) -> None:
    answer = lazyapp.post_json("/test/lazy/read", {}).json
    assert answer == {"transaction_before": False, "attempts": 1}


def test_the_transaction_begins_on_first_use_and_commits_with_the_answer(
    lazyapp: TestApp, dbsession: Session
) -> None:
    answer = lazyapp.post_json("/test/lazy/write", {"bucket": "lazy-commit"}).json
    assert answer == {"transaction_before": False, "transaction_after": True}
    assert [w.count for w in _windows(dbsession, "lazy-commit")] == [1]


@pytest.fixture()
def committing_app(lazy_app: Any, engine: Engine) -> Iterator[TestApp]:
    """The app with its own sessions, as in production: what it commits stays (removed after)."""
    yield TestApp(lazy_app)
    with Session(engine) as session, session.begin():
        session.execute(delete(RateLimitWindow).where(RateLimitWindow.bucket.like("lazy-real-%")))


def test_an_error_answer_aborts_what_the_lazy_transaction_wrote(
    committing_app: TestApp, engine: Engine
) -> None:
    # Not through the test session: the rollback-only harness keeps its session on abort.
    committing_app.post_json("/test/lazy/fail", {"bucket": "lazy-real-abort"}, status=409)
    committing_app.post_json("/test/lazy/write", {"bucket": "lazy-real-commit"})
    with Session(engine) as session:
        assert _windows(session, "lazy-real-abort") == []
        assert len(_windows(session, "lazy-real-commit")) == 1


def test_transaction_modes_are_fixed_paths_only(lazy_app: Any) -> None:
    modes = lazy_app.registry["transaction_modes"]
    assert modes["/test/lazy/write"] == "lazy"
    assert "/api/v1/certificates/verify" not in modes  # a plain database view
    assert modes["/api/v1/ping"] == "none"
    assert "/api/v1/election/jobs" not in modes


def test_a_view_with_an_unknown_database_mode_refuses_to_register(
    engine: Engine, app_settings: dict[str, Any]
) -> None:
    from pyramid.exceptions import ConfigurationError

    from hub import make_config

    config = make_config({}, **app_settings, **{"hub.test_engine": engine})
    config.add_route("test.lazy.bad", "/test/lazy/bad")
    config.add_view(_read, route_name="test.lazy.bad", renderer="json", public=True, database="sometimes")
    with pytest.raises(ConfigurationError, match="database must be"):
        config.commit()
