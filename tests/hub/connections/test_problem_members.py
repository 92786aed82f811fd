"""A problem's ``status`` is always the HTTP status; a workflow state travels as ``state``."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import Problem, problem_response
from tests.hub.connections.conftest import Hub
from tests.hub.connections.samples import lt_industrial_form, submission

URL = "/api/v1/connections/applications"
OA = "dc_office_assistant"


@pytest.fixture()
def client(live_client: Any) -> dict[str, Any]:
    return live_client(["connections:apply"])


def test_a_409_on_a_closed_application_keeps_status_the_http_code(hub: Hub, client: dict[str, Any]) -> None:
    sw_id = "SW-REST-STATE"
    hub.app.post_json(URL, submission(sw_id, lt_industrial_form()), headers=client["headers"], status=201)
    hub.officer(sw_id, "reject", OA, reason="Premises lie in a no-industry zone")
    refused = hub.app.post_json(
        f"{URL}/{sw_id}/withdrawal", {"reason": "too late"}, headers=client["headers"], status=409
    )
    assert refused.content_type == "application/problem+json"
    assert refused.json["status"] == 409
    assert refused.json["code"] == "application_state_conflict"
    assert refused.json["state"] == "rejected"


@pytest.mark.parametrize("member", ["status", "type", "title", "detail", "instance", "code", "errors"])
def test_an_extension_member_may_not_take_a_standard_members_name(member: str) -> None:
    with pytest.raises(ValueError, match="standard members"):
        Problem("conflict", extra={member: "closed"})
    with pytest.raises(ValueError, match="standard members"):
        problem_response(None, "conflict", extra={member: "closed"})
