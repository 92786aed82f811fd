"""JSON over HTTP for the real REST clients: timeouts from settings, one error mapping.

Every REST connector (SMS gateway, payment gateway, meter head-end,
single-window callback, DBT notifier) talks to its partner through
:class:`JsonHttp`, so they all fail the same way:

* timeout, refused or reset connection, TLS failure -> ConnectorUnavailable
* 5xx, 408, 429, and 401/403 (our credentials are wrong: nothing we ask will
  work until an operator fixes them) -> ConnectorUnavailable
* 404 -> NotFound; other 4xx -> ConnectorRejected
* a 2xx whose body is not a JSON object, or is larger than the cap ->
  ConnectorUnavailable (the partner's answer is never trusted blindly)

Settings read under the connector's prefix (e.g. ``hub.sms.``):
``url`` (required), ``connect_timeout`` (seconds, default 2),
``read_timeout`` (seconds, default 5), ``ca_file`` (optional CA bundle for a
partner with a private CA).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from connectors.base import ConnectorContext
from connectors.errors import ConnectorRejected, ConnectorUnavailable, NotFound

MAX_ANSWER_BYTES = 1 << 20
MAX_LINE_CHARS = 1 << 16
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def timeouts(context: ConnectorContext, *, connect: float = 2.0, read: float = 5.0) -> httpx.Timeout:
    """httpx timeouts from ``connect_timeout`` / ``read_timeout``; every call has both."""
    connect_s = context.float_option("connect_timeout", connect)
    read_s = context.float_option("read_timeout", read)
    if connect_s <= 0 or read_s <= 0:
        raise ValueError(f"connector {context.name}: timeouts must be positive")
    return httpx.Timeout(connect=connect_s, read=read_s, write=read_s, pool=connect_s)


def base_url(context: ConnectorContext) -> str:
    url = context.option("url").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"connector {context.name}: setting 'url' must be an http(s) URL")
    return url


class JsonHttp:
    """A small httpx wrapper that turns every partner failure into a connector error."""

    def __init__(
        self,
        system: str,
        url: str,
        timeout: httpx.Timeout,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        verify: str | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self.url = url
        self._client = httpx.Client(
            base_url=url,
            timeout=timeout,
            headers=dict(headers or {}),
            auth=auth,
            verify=verify,
            follow_redirects=False,
            transport=transport,
        )

    @classmethod
    def from_context(
        cls,
        system: str,
        context: ConnectorContext,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> JsonHttp:
        ca_file = context.options.get("ca_file")
        return cls(
            system,
            base_url(context),
            timeouts(context),
            headers=headers,
            auth=auth,
            verify=ca_file if ca_file else True,
        )

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        any_2xx_body: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Send one request; return (status, JSON object) of a 2xx answer or raise.

        ``any_2xx_body``: a 2xx whose body is not a JSON object counts, as ``{}``
        (for partners whose acknowledgement is just the status code).
        """
        send_headers = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if content is not None:
            send_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        send_headers.setdefault("Accept", "application/json")
        with self._not_answering():
            request = self._client.build_request(method, path, content=content, headers=send_headers)
            response = self._client.send(request, stream=True)
            try:
                raw = self._read_capped(response)
            finally:
                response.close()
        return response.status_code, self._interpret(response.status_code, raw, any_2xx_body)

    def text_lines(self, path: str, deadline_seconds: float, content_type: str = "text/csv") -> Iterator[str]:
        """A 2xx text answer of any size (a day's report), line by line as it arrives.

        The same failures as :meth:`call`; an answer of another content type is garbage, and
        one still arriving ``deadline_seconds`` after the call began is given up on (a partner
        trickling bytes never trips the read timeout), and so is a line longer than
        ``MAX_LINE_CHARS``. A failure mid-answer raises from the iteration: the caller must not
        keep half of it.
        """
        deadline = time.monotonic() + deadline_seconds
        with (
            self._not_answering(),
            self._client.stream("GET", path, headers={"Accept": content_type}) as response,
        ):
            if not 200 <= response.status_code < 300:
                self._interpret(response.status_code, self._read_capped(response))
            if response.headers.get("content-type", "").split(";")[0].strip() != content_type:
                raise ConnectorUnavailable(
                    f"{self.system}: garbage answer (not {content_type})", system=self.system
                )
            pending = ""
            for text in response.iter_text():
                if time.monotonic() > deadline:
                    raise ConnectorUnavailable(f"{self.system}: answer too slow", system=self.system)
                *lines, pending = (pending + text).split("\n")
                # A report's lines are short: one with no end in sight is a partner gone wrong,
                # and must not grow in memory without bound.
                if len(pending) > MAX_LINE_CHARS:
                    raise ConnectorUnavailable(f"{self.system}: a line too long", system=self.system)
                for line in lines:
                    yield line.removesuffix("\r")
            if pending:
                yield pending.removesuffix("\r")

    def probe(self, path: str) -> int:
        """Reachability check for a heartbeat: any answer below 500 means the partner is there."""
        with self._not_answering():
            response = self._client.get(path)
        if response.status_code >= 500:
            raise ConnectorUnavailable(f"{self.system}: HTTP {response.status_code}", system=self.system)
        return response.status_code

    @contextmanager
    def _not_answering(self) -> Iterator[None]:
        """Timeouts, refused or reset connections, TLS and protocol errors: the system is not answering."""
        try:
            yield
        except httpx.TimeoutException:
            raise ConnectorUnavailable(f"{self.system}: timed out", system=self.system) from None
        except httpx.HTTPError as exc:
            raise ConnectorUnavailable(
                f"{self.system}: no answer ({type(exc).__name__})", system=self.system
            ) from None

    def _read_capped(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise ConnectorUnavailable(f"{self.system}: answer too large", system=self.system)
            chunks.append(chunk)
        return b"".join(chunks)

    def _interpret(self, status: int, raw: bytes, any_2xx_body: bool = False) -> dict[str, Any]:
        body = _json_object(raw)
        if 200 <= status < 300:
            if body is None and any_2xx_body:
                return {}
            if body is None:
                raise ConnectorUnavailable(
                    f"{self.system}: garbage answer (HTTP {status})", system=self.system
                )
            return body
        if status >= 500 or status in (401, 403, 408, 429):
            raise ConnectorUnavailable(f"{self.system}: HTTP {status}", system=self.system)
        code = partner_code(body)
        if status == 404:
            raise NotFound(f"{self.system}: not found", system=self.system, code=code or "not_found")
        if 400 <= status < 500:
            raise ConnectorRejected(
                f"{self.system}: rejected (HTTP {status}{', ' + code if code else ''})",
                system=self.system,
                code=code,
            )
        # 1xx/3xx: we never follow redirects, a partner that sends one is misconfigured.
        raise ConnectorUnavailable(f"{self.system}: unexpected HTTP {status}", system=self.system)


def partner_code(body: Mapping[str, Any] | None) -> str | None:
    """The partner's machine error code, only if it looks like one (never echo free text)."""
    if body is None:
        return None
    code = body.get("error")
    if isinstance(code, str) and _CODE.match(code):
        return code
    return None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def field(body: Mapping[str, Any], key: str, kind: type, system: str) -> Any:
    """A typed field of a partner's answer; a missing or mistyped one is a garbage answer."""
    value = body.get(key)
    # bool is an int in Python; a partner sending true for an amount is garbage.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConnectorUnavailable(f"{system}: garbage answer (field {key!r})", system=system)
    return value
