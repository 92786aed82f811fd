"""Errors raised while committing still answer problem+json; SQLite lock refusals are retried."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from pyramid.request import Request
from pyramid.response import Response
from pyramid_retry import IRetryableError
from sqlalchemy.exc import OperationalError

from hub.db import transaction_errors_tween_factory


def _lock_error() -> OperationalError:
    return OperationalError("INSERT INTO x", {}, sqlite3.OperationalError("database is locked"))


def _request(wsgi_app: Any, attempt: int, attempts: int) -> Request:
    request = Request.blank(
        "/api/v1/anything", environ={"retry.attempt": attempt, "retry.attempts": attempts}
    )
    request.registry = wsgi_app.registry
    return request


def test_lock_at_commit_is_retried_while_attempts_remain(wsgi_app: Any) -> None:
    error = _lock_error()

    def handler(request: Request) -> Response:
        raise error

    tween = transaction_errors_tween_factory(handler, wsgi_app.registry)
    with pytest.raises(OperationalError):
        tween(_request(wsgi_app, 0, 3))
    assert IRetryableError.providedBy(error)


def test_lock_on_the_last_attempt_is_a_503_problem(wsgi_app: Any) -> None:
    def handler(request: Request) -> Response:
        raise _lock_error()

    response = transaction_errors_tween_factory(handler, wsgi_app.registry)(_request(wsgi_app, 2, 3))
    assert response.status_int == 503
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "dependency_unavailable"
    assert response.headers["Retry-After"] == "1"


def test_any_other_commit_error_is_a_500_problem_without_details(wsgi_app: Any) -> None:
    def handler(request: Request) -> Response:
        raise ValueError("secret connection string postgresql://user:pw@db")

    response = transaction_errors_tween_factory(handler, wsgi_app.registry)(_request(wsgi_app, 0, 3))
    assert response.status_int == 500
    assert response.json["code"] == "internal_error"
    assert "pw@db" not in response.text


def test_a_dropped_pooled_connection_is_retried(wsgi_app: Any) -> None:
    import psycopg

    error = OperationalError(
        "SELECT 1", {}, psycopg.OperationalError("server closed the connection unexpectedly")
    )
    error.connection_invalidated = True

    def handler(request: Request) -> Response:
        raise error

    with pytest.raises(OperationalError):
        transaction_errors_tween_factory(handler, wsgi_app.registry)(_request(wsgi_app, 0, 3))
    assert IRetryableError.providedBy(error)
