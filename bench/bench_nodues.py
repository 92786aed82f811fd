"""No-dues applications carried from submit to issued certificate per second, next to issuing alone.

Contender: for each candidate (clean demo consumers: nothing due, healthy
meter, e-KYC complete) the calling system's ``applyNoDues`` (WebTest over the
real WSGI app, OTP already sent), the worker's checks against the reference
billing and KYC (outbox delivered in-process), the officer's approval
(automated: the same ``WorkflowRegistry.act`` the console calls), which
issues and stores the signed XML + PDF, and the SMS with the link.

Baseline: ``hub.certificates.issuing.issue_document`` alone for the same number of
certificates, each in its own committed transaction.

The ratio (contender rate / issuing rate) is the share of the time that is
the certificate itself; the rest is the flow around it. Run as a section of
``make bench`` (``run(args)``) or alone: ``.venv/bin/python bench/bench_nodues.py [--postgres]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hub.lookup import process_service
from hub.systems import Connectors

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, common_arguments, hub_environment, median
from hub.certificates.keys import DocumentKeys
from hub.db import Database
from hub.systems import ReferenceStore

SECTION = "nodues"
CONNECTORS = {
    "hub.billing.backend": "connectors.billing.reference:ReferenceBilling",
    "hub.kyc.backend": "connectors.kyc.reference:ReferenceKyc",
    "hub.samagra.backend": "connectors.samagra.reference:ReferenceSamagra",
    "hub.sms.backend": "connectors.sms.reference:ReferenceSms",
    "hub.sms.sender_id": "MPCZED",
    "hub.sms.entity_id": "1101000000000000001",
    "hub.sms.template.otp.id": "1107000000000000001",
    "hub.sms.template.nodues_issued.id": "1107000000000000002",
    "hub.sms.template.nodues_decided.id": "1107000000000000003",
    "hub.log_json": "false",
    "hub.access_log": "false",
}
PURPOSE = {"election": "gram_panchayat", "body": "ग्राम पंचायत कोलार", "ward": "7"}


def _candidates(app: Any, count: int) -> list[Any]:
    """Demo consumers who would pass every check, one connection each, distinct people."""
    billing = process_service(app.registry, Connectors)["billing"]
    kyc = process_service(app.registry, Connectors)["kyc"]
    from sqlalchemy import select

    from connectors.billing.tables import RefConsumer

    engine = process_service(app.registry, ReferenceStore).engine
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                RefConsumer.consumer_number,
                RefConsumer.mobile,
                RefConsumer.samagra_id,
                RefConsumer.connection_status,
            ).order_by(RefConsumer.consumer_number)
        ).all()
    by_mobile: dict[str, list[Any]] = {}
    for row in rows:
        by_mobile.setdefault(row.mobile, []).append(row)
    chosen = []
    for mobile, owned in by_mobile.items():
        if len(owned) != 1 or mobile.startswith("99990"):
            continue
        row = owned[0]
        if row.samagra_id is None or row.connection_status != "active":
            continue
        if billing.outstanding_dues(row.consumer_number).amount > 0:
            continue
        if billing.meter_status(row.consumer_number).health.value != "healthy":
            continue
        record = kyc.get_records([row.consumer_number]).get(row.consumer_number)
        if record is None or not record.is_complete or record.samagra_id != row.samagra_id:
            continue
        chosen.append(row)
        if len(chosen) == count:
            break
    return chosen


class Driver:
    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        from webtest import TestApp

        from hub.lookup import registered
        from hub.outbox import OutboxHandlers, deliverer_from_settings

        self.app = app
        self.web = TestApp(app)
        self.headers = headers
        registry = app.registry
        self.engine = process_service(registry, Database).engine
        self.deliverer = deliverer_from_settings(
            registry.settings,
            self.engine,
            process_service(registry, Connectors),
            registered(registry, OutboxHandlers),
        )

    def drain(self) -> None:
        from sqlalchemy import select

        from hub.models.outbox import OutboxMessage

        while True:
            with self.engine.connect() as conn:
                ids = list(
                    conn.execute(select(OutboxMessage.id).where(OutboxMessage.status == "pending")).scalars()
                )
            if not ids or not any(o.result == "delivered" for o in self.deliverer.deliver(ids)):
                return

    def otp(self, to: str, **body: Any) -> dict[str, str]:
        answer = self.web.post_json("/api/v1/nodues/otp", body, headers=self.headers, status=202).json
        self.drain()
        text = process_service(self.app.registry, Connectors)["sms"].messages_to(to)[-1].text
        match = re.match(r"[0-9]{6}", text)
        assert match is not None
        return {"challenge_id": answer["challenge_id"], "otp": match.group(0)}

    def prepare(self, row: Any) -> dict[str, Any]:
        proof = self.otp(row.mobile, purpose="account", mobile=row.mobile)
        account = self.web.post_json(
            "/api/v1/nodues/accounts", {"mobile": row.mobile, **proof}, headers=self.headers, status=201
        ).json
        # The mobile billing registers is the one the Samagra registry holds for the person.
        apply_proof = self.otp(
            row.mobile, purpose="apply", account_id=account["account_id"], samagra_id=row.samagra_id
        )
        return {
            "account_id": account["account_id"],
            "name_latin": "Bench Candidate",
            "samagra_id": row.samagra_id,
            "purpose": PURPOSE,
            **apply_proof,
        }

    def carry(self, body: dict[str, Any]) -> str:
        """Submit -> checks -> approval -> certificate and SMS; returns the certificate number."""
        from sqlalchemy.orm import Session

        from hub.nodues.workflow import SUBJECT_TYPE, WORKFLOW
        from hub.workflow import find_case

        app_id = self.web.post_json(
            "/api/v1/nodues/applications", body, headers=self.headers, status=202
        ).json["application_id"]
        self.drain()
        workflows = self.app.registry["workflows"]
        with Session(self.engine) as session, session.begin():
            case = find_case(session, WORKFLOW, SUBJECT_TYPE, app_id)
            if case is None or case.state != "awaiting_decision":
                answer = self.web.get(f"/api/v1/nodues/applications/{app_id}", headers=self.headers).json
                raise RuntimeError(f"{app_id} is {answer['status']}: {answer['rejection_reasons']}")
            workflows.act(session, case, "approve", "officer:bench.dgm", ["dgm"])
        self.drain()
        answer = self.web.get(f"/api/v1/nodues/applications/{app_id}", headers=self.headers).json
        return str(answer["certificate"]["number"])


def _issue_only(app: Any, count: int) -> float:
    from sqlalchemy.orm import Session

    from certs.document import Check, Connection, Holder, Issuer, Purpose
    from hub.certificates.issuing import DocumentRequest, issue_document
    from hub.models.meta import utcnow

    keys = process_service(app.registry, DocumentKeys)
    engine = process_service(app.registry, Database).engine
    now = utcnow()
    request = DocumentRequest(
        kind="no_dues_certificate",
        office_code="DIV-BPL-1",
        subject_type="bench",
        subject_id="bench",
        issuer=Issuer(
            "Discom", "विद्युत वितरण कंपनी", "DIV-BPL-1", "Bench DGM", "Deputy General Manager", "उप महाप्रबंधक"
        ),
        holder=Holder(name_deva="रमेश कुमार शर्मा", name_latin="Ramesh Kumar Sharma", samagra_id="900000011"),
        valid_for=timedelta(days=90),
        connections=[Connection("1019990011", Decimal("0.00"), now, "healthy")],
        checks=[Check(f"{n}:1019990011", "pass", "RB-BENCH", now) for n in ("dues", "meter", "ekyc")],
        purpose=Purpose("Nomination", "gram_panchayat", "Kolar", "7"),
    )
    started = time.perf_counter()
    for _ in range(count):
        with Session(engine) as session, session.begin():
            issue_document(session, keys, request, "http://127.0.0.1:6543")
    return count / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> list[Figure]:
    from sqlalchemy.orm import Session

    from hub import main
    from hub.auth.clients import create_client

    count = max(5, int(getattr(args, "applications", 0) or 30))
    rounds = max(1, int(getattr(args, "rounds", 3)))
    contender: list[float] = []
    baseline: list[float] = []
    with hub_environment(
        postgres=bool(getattr(args, "postgres", False)), ratelimit="database", extra_settings=CONNECTORS
    ) as env:
        from connectors.demo import generate_demo_data
        from connectors.reference_db import open_reference_store

        engine = env.engine(pool_size=8)
        store = open_reference_store(env.settings["hub.reference.database_url"])
        generate_demo_data(store, consumers=max(2000, count * rounds * 8), seed=1)
        store.dispose()
        app = main({}, **env.settings, **{"hub.test_engine": engine})
        with Session(engine) as session, session.begin():
            client = create_client(
                session, "bench: nodues", ["nodues:apply", "nodues:read"], rate_per_minute=10**6
            )
        from webtest import TestApp

        token = (
            TestApp(app)
            .post(
                "/oauth/token",
                {"grant_type": "client_credentials"},
                headers={"Authorization": _basic(client.client_id, client.client_secret)},
            )
            .json["access_token"]
        )
        driver = Driver(app, {"Authorization": f"Bearer {token}"})
        people = _candidates(app, count * rounds)
        if len(people) < count * rounds:
            raise RuntimeError(f"only {len(people)} clean candidates in the demo data")
        print(f"  hub on {env.kind}; {count} applications per round, {rounds} alternated rounds", flush=True)
        for index in range(rounds):
            bodies = [driver.prepare(row) for row in people[index * count : (index + 1) * count]]
            started = time.perf_counter()
            for body in bodies:
                driver.carry(body)
            rate = count / (time.perf_counter() - started)
            issue_rate = _issue_only(app, count)
            contender.append(rate)
            baseline.append(issue_rate)
            print(
                f"  round {index + 1}/{rounds}: {rate:.1f} applications/s, issuing alone {issue_rate:.1f}/s",
                flush=True,
            )
        engine.dispose()
    return [
        Figure(
            section=SECTION,
            name="no-dues applications submit -> issued certificate (officer automated)",
            value=median(contender),
            unit="applications/s",
            baseline_name="hub.certificates.issuing.issue_document alone",
            baseline_value=median(baseline),
            samples=contender,
            baseline_samples=baseline,
        )
    ]


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def main_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_arguments(parser)
    parser.add_argument("--applications", type=int, default=30, help="applications per round (default 30)")
    args = parser.parse_args(argv)
    for figure in run(args):
        print(figure.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main_cli())
