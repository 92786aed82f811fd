"""Property-based fuzz of every operation in /openapi.json, in-process against the WSGI app.

Schemathesis generates requests from the document (valid and invalid ones) and sends them to
the app itself (no socket, no other host). Every answer must be no 5xx, of a status the
operation documents, of the documented content type, and match the documented body schema.
Bounded and deterministic: a fixed number of examples per operation, derandomized.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.auth.clients import KNOWN_SCOPES

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live_settings(live_settings: dict[str, Any]) -> dict[str, Any]:
    # The fuzz sends hundreds of anonymous requests from one address: the per-address limit
    # would answer most of them 429 and test nothing else.
    return {**live_settings, "hub.ratelimit.public_per_minute": 1_000_000}


@pytest.fixture(scope="module")
def hub_schema(live_wsgi_app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/openapi.json", live_wsgi_app)


@pytest.fixture()
def partner_headers(live_client: Any) -> dict[str, str]:
    headers: dict[str, str] = live_client(sorted(KNOWN_SCOPES), ["ladli-behna"])["headers"]
    return headers


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the report names the request
        suppress_health_check=list(HealthCheck),
    )
    def one(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    one()


def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection off this machine (the database and Redis are on loopback)."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if (
            isinstance(address, tuple)
            and not ipaddress.ip_address(socket.gethostbyname(address[0])).is_loopback
        ):
            raise AssertionError(f"the fuzz reached out to {address[0]}")
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def test_every_operation_answers_as_documented(
    hub_schema: Any, partner_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _loopback_only(monkeypatch)
    failures = []
    operations = [result.ok() for result in hub_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, partner_headers)
            except Unsatisfiable:
                continue  # nothing invalid to make of an operation that takes nothing
            except (Exception, FailureGroup) as exc:  # every operation's failures, in one report
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)


def _strings_without_length(schema: Any, where: str) -> list[str]:
    if not isinstance(schema, dict) or "$ref" in schema:
        return []
    found = []
    kinds = schema.get("type")
    if (kinds == "string" or (isinstance(kinds, list) and "string" in kinds)) and not (
        "maxLength" in schema or "enum" in schema or "format" in schema
    ):
        found.append(where)
    for name, sub in (schema.get("properties") or {}).items():
        found += _strings_without_length(sub, f"{where}/{name}")
    found += _strings_without_length(schema.get("items"), f"{where}/[]")
    for key in ("oneOf", "anyOf", "allOf"):
        for index, sub in enumerate(schema.get(key) or ()):
            found += _strings_without_length(sub, f"{where}/{key}/{index}")
    return found


def test_every_string_a_reader_takes_declares_its_length(testapp: Any) -> None:
    """Parameters and JSON bodies: what forms.reader checks before the database, the document states.

    Whole-body uploads (XML, CSV) are capped in bytes (413), and the token endpoint's form is RFC 6749's.
    """
    document = testapp.get("/openapi.json").json
    missing = []
    for operations in document["paths"].values():
        for operation in operations.values():
            name = operation["operationId"]
            for parameter in operation.get("parameters", []):
                missing += _strings_without_length(parameter["schema"], f"{name} {parameter['name']}")
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                missing += _strings_without_length(content["application/json"]["schema"], f"{name} body")
    assert missing == []
