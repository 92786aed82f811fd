"""New connections: applications filed per second through REST and SOAP next to the bare
view, and status callbacks delivered per second by a real ``hub-worker`` on Redis.

Submissions: wrk posts an LT industrial application (four small inline
documents, each hash checked) with a fresh single-window id per request (a
Lua counter under a per-run prefix), so every request files a new
application: validation, documents, the workflow start and the first outbox
row, committed. Baseline: ``bench.bare_app`` (``/bare``) on the same granian
command, alternated.

Callbacks: N status updates committed to the outbox, a real ``hub-worker``
on Redis delivering them (signed JWS) to a local portal that verifies each;
baseline: the same N deliveries made by one thread calling the connector
directly (no queue, no claim, no database).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    BenchError,
    Contender,
    Figure,
    SkipSection,
    alternate,
    empty_redis_database,
    fetch_token,
    http_json,
    hub_and_bare,
    hub_environment,
    hub_worker,
    redis_reachable,
    run_wrk,
    throughput_figure,
)

SECTION = "connections"
REDIS_URL = "redis://127.0.0.1:6379/13"
PDF = b"%PDF-1.4\n% bench document\n%%EOF\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connections-callbacks", type=int, default=300, help="status updates to deliver")


def _form() -> dict[str, Any]:
    docs = []
    for doc_type in ("identity_proof", "ownership_proof", "incorporation_certificate", "site_plan"):
        content = PDF + doc_type.encode()
        docs.append(
            {
                "doc_type": doc_type,
                "file_name": f"{doc_type}.pdf",
                "media_type": "application/pdf",
                "sha256": hashlib.sha256(content).hexdigest(),
                "content_base64": base64.b64encode(content).decode(),
            }
        )
    return {
        "enterprise": {"name": "Bench Fabricators", "constitution": "proprietorship", "pan": "ABCPS1234K"},
        "contact": {"name": "Ramesh Patel", "mobile": "9425012345"},
        "premises": {
            "address_line": "Shed 7",
            "district": "Bhopal",
            "pin_code": "462023",
            "area_class": "metro",
        },
        "supply": {
            "category": "lt_industrial",
            "connected_load": {"value": "40", "unit": "HP"},
            "supply_voltage": "415V",
        },
        "documents": docs,
    }


def _soap_body(form: dict[str, Any]) -> str:
    def xml(value: Any, name: str) -> str:
        if isinstance(value, dict):
            return f"<f:{name}>" + "".join(xml(v, k) for k, v in value.items()) + f"</f:{name}>"
        if isinstance(value, list):
            return f"<f:{name}>" + "".join(xml(v, "document") for v in value) + f"</f:{name}>"
        return f"<f:{name}>{value}</f:{name}>"

    inner = "".join(xml(v, k) for k, v in form.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        '<c:submitConnectionApplication xmlns:c="urn:discom-hub:connections:1" '
        'xmlns:f="urn:discom-hub:connections:form:1">'
        "<c:sw_application_id>__ID__</c:sw_application_id><c:form_version>1</c:form_version>"
        f"<c:form_v1>{inner}</c:form_v1></c:submitConnectionApplication></s:Body></s:Envelope>"
    )


def _unique_id_script(directory: Path, template: str, content_type: str, headers: dict[str, str]) -> Path:
    """A wrk script POSTing ``template`` with ``__ID__`` replaced by a new id per request."""
    prefix, _, suffix = template.partition("__ID__")
    run = secrets.token_hex(4)
    lines = [
        f"local prefix = {json.dumps(prefix)}",
        f"local suffix = {json.dumps(suffix)}",
        "local n = 0",
        'wrk.method = "POST"',
        f'wrk.headers["Content-Type"] = {json.dumps(content_type)}',
        *[f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()],
        "request = function()",
        "  n = n + 1",
        f'  return wrk.format(nil, nil, nil, prefix .. "BENCH-{run}-" .. n .. suffix)',
        "end",
    ]
    path = directory / f"connections-{run}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args: argparse.Namespace) -> list[Figure]:
    if not args.postgres:
        # Every submission writes; SQLite has one writer, so 16 concurrent
        # submitters measure its lock, not the hub (some run out of retries).
        raise SkipSection("submissions are write-bound: run with --postgres")
    figures: list[Figure] = []
    with ExitStack() as stack:
        env = stack.enter_context(hub_environment(postgres=args.postgres, ratelimit=args.ratelimit))
        client_id, secret = env.create_client("bench: connections", ["connections:apply"])
        hub, bare = hub_and_bare(stack, env)
        token = fetch_token(hub, client_id, secret, "connections:apply")
        auth = {"Authorization": f"Bearer {token}"}
        form = _form()
        rest_template = json.dumps({"sw_application_id": "__ID__", "form_version": 1, "form": form})
        status, body = http_json(
            "POST",
            hub.url("/api/v1/connections/applications"),
            body=rest_template.replace("__ID__", "BENCH-CHECK").encode("utf-8"),
            headers={**auth, "Content-Type": "application/json"},
        )
        if status != 201:
            raise BenchError(f"submitConnectionApplication answered {status}: {body}")
        rest_script = _unique_id_script(env.root, rest_template, "application/json", auth)
        soap_script = _unique_id_script(
            env.root,
            _soap_body(form),
            "text/xml; charset=utf-8",
            {**auth, "SOAPAction": "urn:discom-hub:connections:1/submitConnectionApplication"},
        )
        rest = Contender(
            "REST submitConnectionApplication",
            lambda s: run_wrk(
                hub.url("/api/v1/connections/applications"), s, script=rest_script, connections=4
            ),
        )
        soap = Contender(
            "SOAP submitConnectionApplication",
            lambda s: run_wrk(hub.url("/soap/singlewindow"), s, script=soap_script, connections=4),
        )
        baseline = Contender("bare Pyramid view", lambda s: run_wrk(bare.url("/bare"), s, connections=4))
        results = alternate([rest, soap, baseline], rounds=args.rounds, seconds=args.seconds)
        setting = {"database": env.kind, "load": f"wrk -t1 -c4 -d{args.seconds:g}s", "documents": "4 inline"}
        for contender in (rest, soap):
            figures.append(
                throughput_figure(
                    SECTION,
                    f"{contender.name} (new application each)",
                    results[contender.name],
                    "bare Pyramid view",
                    results[baseline.name],
                    target=None,
                    details=setting,
                )
            )
        figures.append(_callbacks(args, env, stack))
    return figures


def _callbacks(args: argparse.Namespace, env: Any, stack: ExitStack) -> Figure:
    if not redis_reachable(REDIS_URL):
        raise SkipSection("callback deliveries are measured on Redis; none answers on 127.0.0.1:6379")
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime

    from joserfc.jwk import ECKey, KeySet
    from sqlalchemy.orm import Session

    from connectors.base import ConnectorContext
    from connectors.singlewindow import StatusUpdate
    from connectors.singlewindow.client import HttpSingleWindow
    from hub.models.outbox import OutboxMessage
    from hub.outbox import OutboxQueue, enqueue, take_new_ids
    from tests.connectors.fake_singlewindow import FakeSingleWindow

    key = ECKey.generate_key("P-256", parameters={"kid": "bench-sw"})
    key_file = env.root / "sw.pem"
    key_file.write_bytes(key.as_pem(private=True))
    portal = stack.enter_context(
        FakeSingleWindow(jwks=KeySet([ECKey.import_key(key.as_dict(private=False), {"kid": "bench-sw"})]))
    )
    options = {"url": portal.url, "signature": "jws", "jws_key_file": str(key_file), "jws_kid": "bench-sw"}
    count = int(args.connections_callbacks)
    apps = 20

    def update(i: int) -> StatusUpdate:
        return StatusUpdate(
            delivery_id="assigned-by-the-outbox",
            application_id=f"SW-BENCH-{i % apps}",
            application_no=f"MPCZ/NC/2026-27/{i % apps:07d}",
            status="site_inspection",
            sequence=i // apps + 1,
            occurred_at=datetime.now(UTC),
            remarks="स्थल निरीक्षण / Site inspection",
        )

    engine = env.engine()
    # Baseline: one thread, the connector alone.
    direct = HttpSingleWindow.from_context(
        ConnectorContext(name="singlewindow", options=options, engine=engine)
    )
    started = time.perf_counter()
    for i in range(count):
        u = update(i)
        direct.deliver(StatusUpdate(**{**u.__dict__, "delivery_id": f"bench-direct-{i}"}))
    direct_rate = count / (time.perf_counter() - started)

    empty_redis_database(REDIS_URL)
    settings = {
        **env.settings,
        "hub.redis_url": REDIS_URL,
        "hub.singlewindow.backend": "connectors.singlewindow.client:HttpSingleWindow",
        **{f"hub.singlewindow.{k}": v for k, v in options.items()},
        "hub.outbox.workers": "4",
        "hub.outbox.sweep_seconds": "5",
    }
    ini = env.root / "worker.ini"
    ini.write_text(
        "[app:main]\nuse = egg:discom-hub\n"
        + "".join(f"{k} = {str(v).replace('%', '%%')}\n" for k, v in settings.items())
    )
    with Session(engine) as session, session.begin():
        for i in range(count):
            enqueue(
                session,
                "singlewindow.status",
                update(i).as_json(),
                key=f"connection-application:bench-{i % apps}",
            )
        ids = take_new_ids(session)
    try:
        with hub_worker(ini, env.root):
            time.sleep(3)  # the worker is up and idle before the clock starts
            before = len(portal.deliveries)
            started = time.perf_counter()
            OutboxQueue.from_settings({"hub.redis_url": REDIS_URL}).submit(ids)
            deadline = started + 120
            with Session(engine) as session:
                while time.perf_counter() < deadline:
                    done = session.query(OutboxMessage).filter(OutboxMessage.status == "delivered").count()
                    session.rollback()
                    if done >= count:
                        break
                    time.sleep(0.05)
                else:
                    raise BenchError("the worker did not deliver every callback within 120 s")
            worker_rate = count / (time.perf_counter() - started)
            received = len(portal.deliveries) - before
    finally:
        empty_redis_database(REDIS_URL)
        engine.dispose()
    return Figure(
        SECTION,
        "status callbacks delivered by hub-worker on Redis (JWS-signed, per-application order)",
        worker_rate,
        "deliveries/s",
        "one thread calling the connector directly",
        direct_rate,
        details={
            "callbacks": count,
            "applications": apps,
            "worker_threads": 4,
            "received_by_portal": received,
        },
    )
