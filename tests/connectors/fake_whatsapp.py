"""A fake WhatsApp Cloud API (Graph API) on 127.0.0.1 speaking the wire format the client does.

``POST /{version}/{phone_number_id}/media`` (multipart/form-data: messaging_product, type, file)
answers ``{"id": media id}``; ``POST .../messages`` checks the body's shape (a document must
name an uploaded media id) and answers ``{"messaging_product", "contacts", "messages": [{"id"}]}``;
``GET /{version}/{phone_number_id}`` answers the number. A wrong bearer token is 401 with a
Graph error object; a number in ``not_on_whatsapp`` is 400 (131026 style).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.connectors.fakehttp import FakeRequest, FakeResponse

TOKEN = "test-graph-token"
VERSION = "v21.0"
PHONE_NUMBER_ID = "106540352242922"


def _graph_error(status: int, code: int, message: str) -> FakeResponse:
    return FakeResponse.json(
        status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}}
    )


@dataclass
class FakeGraph:
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    not_on_whatsapp: set[str] = field(default_factory=set)

    def __call__(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _graph_error(401, 190, "Invalid OAuth access token")
        base = f"/{VERSION}/{PHONE_NUMBER_ID}"
        if request.method == "GET" and request.path == base:
            return FakeResponse.json(200, {"id": PHONE_NUMBER_ID, "display_phone_number": "+91 755 255 1912"})
        if request.method == "POST" and request.path == base + "/media":
            return self._media(request)
        if request.method == "POST" and request.path == base + "/messages":
            return self._message(request)
        return _graph_error(400, 100, "Unsupported request")

    def _media(self, request: FakeRequest) -> FakeResponse:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data; boundary="):
            return _graph_error(400, 100, "multipart expected")
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + request.body)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True))
        if fields.get("messaging_product", (None, b""))[1] != b"whatsapp" or "file" not in fields:
            return _graph_error(400, 100, "missing fields")
        media_id = str(900_000_000_000_000 + len(self.uploads) + 1)
        filename, content = fields["file"]
        self.uploads[media_id] = {
            "filename": filename,
            "content": content,
            "type": fields["type"][1].decode(),
        }
        return FakeResponse.json(200, {"id": media_id})

    def _message(self, request: FakeRequest) -> FakeResponse:
        body = request.json()
        if body.get("messaging_product") != "whatsapp" or not re.fullmatch(
            r"[0-9]{8,15}", str(body.get("to"))
        ):
            return _graph_error(400, 100, "Invalid parameter")
        if body["to"] in self.not_on_whatsapp:
            return _graph_error(400, 131026, "Message undeliverable")
        kind = body.get("type")
        if kind == "document" and body["document"].get("id") not in self.uploads:
            return _graph_error(400, 131053, "Media upload error")
        if kind == "template":
            for component in body["template"].get("components", []):
                for parameter in component.get("parameters", []):
                    if parameter["type"] == "document" and parameter["document"]["id"] not in self.uploads:
                        return _graph_error(400, 131053, "Media upload error")
        wamid = f"wamid.HBgM{len(self.messages) + 1:08d}FAKE"
        self.messages.append(body)
        return FakeResponse.json(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            },
        )


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
