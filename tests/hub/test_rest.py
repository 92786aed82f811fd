"""hub.rest's helpers."""

from __future__ import annotations

import json

from hub.rest import json_response


def test_json_response_is_compact_utf8_json() -> None:
    body = {
        "status": "valid",
        "holder_name": 'राम प्रसाद "R"\n',
        "connections": [{"consumer_number": "N1", "load_kw": 1.5, "active": True, "note": None}],
        "count": 3,
    }
    response = json_response(body)
    assert response.body == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(response.headers["Content-Length"]) == len(response.body)
    assert json.loads(response.body) == body
