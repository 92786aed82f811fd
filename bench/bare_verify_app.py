"""The baseline of the election figures: a bare Pyramid view doing verification's database work.

``POST /bare/verify`` with ``{"number": ..., "code": ...}``: one indexed SELECT
of the registry row by number, one INSERT into ``document_verifications``, a
COMMIT, and the status as JSON, through SQLAlchemy on the hub's own database
(``BENCH_DATABASE_URL``) with the hub's pool size. No tweens, no transaction
manager, no authentication, no logging, no rate limit and no judging of the
code: the floor under what the hub's ``verifyCertificate`` guarantees (a
revocation seen at once, every answer logged before it is sent).

    BENCH_DATABASE_URL=... granian --interface wsgi bench.bare_verify_app:application
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from pyramid.config import Configurator
from pyramid.renderers import JSON
from pyramid.request import Request
from pyramid.router import Router
from sqlalchemy import create_engine, text

_engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=16, max_overflow=0)
_SELECT = text(
    "SELECT id, number, status, issued_at, valid_until, verification_code_sha256, holder_samagra_id, "
    "public_summary, xml_sha256, revoked_at, revocation_reason, superseded_by_id "
    "FROM issued_documents WHERE number = :number"
)
_INSERT = text(
    "INSERT INTO document_verifications (at, document_id, number_given, method, outcome, verifier, "
    "client_id, notify_holder) VALUES (:at, :document_id, :number, 'code', :outcome, 'bare', NULL, NULL)"
)


def verify(request: Request) -> dict[str, Any]:
    number = str(json.loads(request.body)["number"])
    with _engine.begin() as conn:
        row = conn.execute(_SELECT, {"number": number}).first()
        status = "unknown" if row is None else str(row.status)
        conn.execute(
            _INSERT,
            {
                "at": datetime.now(UTC),
                "document_id": None if row is None else row.id,
                "number": number,
                "outcome": status,
            },
        )
    return {"number": number, "status": status}


def make_app() -> Router:
    config = Configurator()
    config.add_renderer("json", JSON(ensure_ascii=False))
    config.add_route("bare.verify", "/bare/verify")
    config.add_view(verify, route_name="bare.verify", request_method="POST", renderer="json")
    return config.make_wsgi_app()


application = make_app()
