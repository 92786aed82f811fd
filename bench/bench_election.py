"""Election verification on PostgreSQL with N issued certificates (default 1,000,000).

The registry rows are SYNTHETIC: written straight into ``issued_documents``
with COPY (no XML, no PDF, no signature: verification reads only the
registry row), each with the verification code derived from its serial, so
wrk can ask for a random certificate per request with its right code. They
are no-dues certificates whose subject has no application row, so each
verification writes its log row and (in hub-worker) its holder-SMS ledger row
(the daily dedup) but queues no SMS (no mobile to text).

The hub is served as production.ini serves it: every verification reads the
registry row in its request's transaction and logs its answer with one INSERT
before the COMMIT (there is no other path). A ``hub-worker`` runs beside it, as
in production: it claims the log rows marked for the holders' SMS into the
ledger (each verification of a certificate no one else checked that day is a
ledger row), so that work is measured too.

Figures, each contender next to its baseline on the same granian command, alternated:

* REST ``verifyCertificate`` (authority token, random certificate + code) vs the bare
  Pyramid view doing the same indexed SELECT, one INSERT and COMMIT through SQLAlchemy
  on the same database (``bare_verify_app.py``; target >= 0.75);
* SOAP ``VerifyCertificate`` (SOAP 1.1, bearer, signed answer) vs REST
  ``verifyCertificate`` (target >= 0.70);
* one 1,000-item SOAP ``VerifyCertificates`` vs one SOAP ``VerifyCertificate``, sequential
  latency medians (target <= 20x).

Every round prints each contender's requests/s with its p50 and p99 latency.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import secrets
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Contender,
    Figure,
    SkipSection,
    alternate,
    fetch_token,
    granian_server,
    http_json,
    hub_environment,
    hub_worker,
    median,
    run_wrk,
    throughput_figure,
)

SECTION = "election"
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # hub.certificates.issuing's verification-code alphabet
SERIES = "MPCZ/ND/2026-27"
SOAP_NS = "urn:discom-hub:election:1"
SOAP_ACTION = "urn:discom-hub:election:1/"
SUMMARY = {
    "kind": "no_dues_certificate",
    "holder_name": "किरण शर्मा (Kiran Sharma)",
    "issuer_office": "Bhopal City Circle",
    "connections": [{"consumer_number": "4512300001", "dues": "0.00", "meter_status": "healthy"}],
    "no_connection": False,
    "purpose": {"election": "Panchayat 2026", "body": "Gram Panchayat Berasia", "ward": "7"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--election-rows", type=int, default=1_000_000, help="synthetic issued certificates to load"
    )
    parser.add_argument("--election-batch-rounds", type=int, default=7, help="batch/single latency rounds")


def code_for(serial: int) -> str:
    """The verification code of synthetic certificate ``serial`` (12 letters of the code alphabet)."""
    letters = []
    for _ in range(12):
        letters.append(ALPHABET[serial % 32])
        serial //= 32
    raw = "".join(letters)
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def number_for(serial: int) -> str:
    return f"{SERIES}/{serial:07d}"


def load_certificates(engine: Any, rows: int) -> float:
    """COPY ``rows`` synthetic registry rows into issued_documents; seconds taken."""
    from datetime import UTC, datetime, timedelta

    started = time.perf_counter()
    issued = datetime.now(UTC) - timedelta(days=1)
    valid_until = issued + timedelta(days=90)
    summary = json.dumps(SUMMARY, ensure_ascii=False)
    columns = (
        "id, number, kind, series, verification_code_sha256, subject_type, subject_id, holder_samagra_id, "
        "public_summary, status, issued_at, valid_until, xml_sha256, kid, requested_by_client"
    )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY issued_documents ({columns}) FROM STDIN") as copy:
            for start in range(0, rows, 50_000):
                buffer = io.StringIO()
                for serial in range(start + 1, min(rows, start + 50_000) + 1):
                    code = code_for(serial).replace("-", "")
                    digest = hashlib.sha256(f"{code[:4]}-{code[4:8]}-{code[8:]}".encode()).hexdigest()
                    buffer.write(
                        f"{serial}\t{number_for(serial)}\tno_dues_certificate\t{SERIES}\t{digest}\t"
                        f"nodues_application\tBENCH-{serial}\t{100000000 + serial}\t{summary}\tvalid\t"
                        f"{issued.isoformat()}\t{valid_until.isoformat()}\t{'0' * 64}\tbench\t\\N\n"
                    )
                copy.write(buffer.getvalue())
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('issued_documents', 'id'), {rows + 1})")
        raw.commit()
        cursor.execute("ANALYZE issued_documents")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def _random_script(
    directory: Path, rows: int, template: str, content_type: str, headers: dict[str, str]
) -> Path:
    """A wrk script POSTing ``template`` for a random certificate: __NUMBER__ and __CODE__ filled in Lua."""
    lines = [
        f"local template = {json.dumps(template)}",
        f'local alphabet = "{ALPHABET}"',
        f"local rows = {rows}",
        'wrk.method = "POST"',
        f'wrk.headers["Content-Type"] = {json.dumps(content_type)}',
        *[f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()],
        "math.randomseed(os.time())",
        "request = function()",
        "  local serial = math.random(1, rows)",
        "  local s = serial",
        "  local code = ''",
        "  for i = 1, 12 do",
        "    local d = s % 32",
        "    code = code .. string.sub(alphabet, d + 1, d + 1)",
        "    s = math.floor(s / 32)",
        "    if i == 4 or i == 8 then code = code .. '-' end",
        "  end",
        f'  local number = string.format("{SERIES}/%07d", serial)',
        "  local body = string.gsub(template, '__NUMBER__', number)",
        "  body = string.gsub(body, '__CODE__', code)",
        "  return wrk.format(nil, nil, nil, body)",
        "end",
    ]
    path = directory / f"election-{secrets.token_hex(4)}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def soap_envelope(inner: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f"{inner}</s:Body></s:Envelope>"
    )


def single_soap(number: str, code: str) -> str:
    return soap_envelope(
        f'<e:VerifyCertificate xmlns:e="{SOAP_NS}"><e:number>{number}</e:number>'
        f"<e:code>{code}</e:code></e:VerifyCertificate>"
    )


def batch_soap(serials: list[int]) -> str:
    items = "".join(
        f"<e:item><e:number>{number_for(s)}</e:number><e:code>{code_for(s)}</e:code></e:item>"
        for s in serials
    )
    return soap_envelope(f'<e:VerifyCertificates xmlns:e="{SOAP_NS}">{items}</e:VerifyCertificates>')


def run(args: argparse.Namespace) -> list[Figure]:
    if not args.postgres:
        raise SkipSection("election measures on PostgreSQL with a large registry: pass --postgres")
    rows = int(args.election_rows)
    if rows < 1000:
        raise BenchError("--election-rows must be at least 1000 (one full batch)")
    figures: list[Figure] = []
    with ExitStack() as stack:
        env = stack.enter_context(
            hub_environment(
                postgres=True,
                ratelimit=args.ratelimit,
                # verifyCertificate is limited per address; wrk is one address.
                extra_settings={"hub.ratelimit.public_per_minute": "1000000000"},
            )
        )
        engine = env.engine()
        try:
            load_seconds = load_certificates(engine, rows)
        finally:
            engine.dispose()
        print(f"  loaded {rows:,} synthetic certificates in {load_seconds:.1f} s", flush=True)
        client_id, secret = env.create_client("bench: election authority", ["certificates:verify"])
        hub = stack.enter_context(
            granian_server(
                "hub", "hub.wsgi:application", env=env.server_env(), ready_path="/healthz", log_dir=env.root
            )
        )
        bare = stack.enter_context(
            granian_server(
                "bare-verify",
                "bench.bare_verify_app:application",
                env={"BENCH_DATABASE_URL": env.database_url},
                ready_path="/bare/verify",
                log_dir=env.root,
            )
        )
        # As production runs it beside the web processes: it claims the log rows marked for the
        # holders' SMS ledger, so its share of the database is in every figure.
        stack.enter_context(hub_worker(env.ini, env.root))
        token = fetch_token(hub, client_id, secret, "certificates:verify")
        auth = {"Authorization": f"Bearer {token}"}

        # One of each by hand first: a wrong setup must fail here, not as a fast error under load.
        check = {"number": number_for(rows // 2), "code": code_for(rows // 2)}
        status, body = http_json(
            "POST",
            hub.url("/api/v1/certificates/verify"),
            body=json.dumps(check).encode(),
            headers={**auth, "Content-Type": "application/json"},
        )
        if status != 200 or not isinstance(body, dict) or body.get("status") != "valid":
            raise BenchError(f"verifyCertificate answered {status}: {body[:300]}")
        soap_headers = {**auth, "SOAPAction": SOAP_ACTION + "VerifyCertificate"}
        status, body = http_json(
            "POST",
            hub.url("/soap/election"),
            body=single_soap(check["number"], check["code"]).encode(),
            headers={**soap_headers, "Content-Type": "text/xml; charset=utf-8"},
        )
        if status != 200 or ">valid<" not in body:
            raise BenchError(f"VerifyCertificate answered {status}: {body[:300]}")
        status, body = http_json(
            "POST",
            bare.url("/bare/verify"),
            body=json.dumps(check).encode(),
            headers={"Content-Type": "application/json"},
        )
        if status != 200 or not isinstance(body, dict) or body.get("status") != "valid":
            raise BenchError(f"the bare verify view answered {status}: {body!r:.300}")

        rest_script = _random_script(
            env.root,
            rows,
            json.dumps({"number": "__NUMBER__", "code": "__CODE__"}),
            "application/json",
            auth,
        )
        soap_script = _random_script(
            env.root, rows, single_soap("__NUMBER__", "__CODE__"), "text/xml; charset=utf-8", soap_headers
        )
        rest = Contender(
            "REST verifyCertificate",
            lambda s: run_wrk(hub.url("/api/v1/certificates/verify"), s, script=rest_script),
        )
        soap = Contender(
            "SOAP VerifyCertificate", lambda s: run_wrk(hub.url("/soap/election"), s, script=soap_script)
        )
        bare_script = _random_script(
            env.root, rows, json.dumps({"number": "__NUMBER__", "code": "__CODE__"}), "application/json", {}
        )
        base = Contender(
            "bare view: SELECT + INSERT + COMMIT",
            lambda s: run_wrk(bare.url("/bare/verify"), s, script=bare_script),
        )
        runs = alternate([rest, soap, base], rounds=args.rounds, seconds=args.seconds)
        setting = {"database": "postgresql", "certificates": rows, "synthetic_rows": True}
        figures.append(
            throughput_figure(
                SECTION,
                f"REST verifyCertificate ({rows:,} certificates, random)",
                runs[rest.name],
                base.name,
                runs[base.name],
                target=0.75,
                details=setting,
            )
        )
        figures.append(
            throughput_figure(
                SECTION,
                "SOAP VerifyCertificate (signed answer)",
                runs[soap.name],
                "REST verifyCertificate",
                runs[rest.name],
                target=0.70,
                details=setting,
            )
        )
        figures.append(_batch_figure(hub, soap_headers, rows, int(args.election_batch_rounds)))
    return figures


def _batch_figure(hub: Any, headers: dict[str, str], rows: int, rounds: int) -> Figure:
    """Sequential latency: one 1,000-item VerifyCertificates against one VerifyCertificate (medians)."""
    import httpx

    rng = random.Random(5)
    single_ms: list[float] = []
    batch_ms: list[float] = []
    batch_headers = {
        **headers,
        "SOAPAction": SOAP_ACTION + "VerifyCertificates",
        "Content-Type": "text/xml; charset=utf-8",
    }
    single_headers = {**headers, "Content-Type": "text/xml; charset=utf-8"}
    with httpx.Client(timeout=30) as client:

        def once(body: str, hdrs: dict[str, str]) -> float:
            started = time.perf_counter()
            answer = client.post(hub.url("/soap/election"), content=body.encode(), headers=hdrs)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise BenchError(f"SOAP answered {answer.status_code}: {answer.text[:300]}")
            return elapsed

        for _ in range(20):  # warm-up: connections, caches
            s = rng.randint(1, rows)
            once(single_soap(number_for(s), code_for(s)), single_headers)
        once(batch_soap([rng.randint(1, rows) for _ in range(1000)]), batch_headers)
        for _ in range(rounds):
            round_single = []
            for _ in range(50):
                s = rng.randint(1, rows)
                round_single.append(once(single_soap(number_for(s), code_for(s)), single_headers))
            single_ms.append(median(round_single))
            batch_ms.append(once(batch_soap([rng.randint(1, rows) for _ in range(1000)]), batch_headers))
    return Figure(
        SECTION,
        "SOAP VerifyCertificates, 1,000 items (latency)",
        median(batch_ms),
        "ms",
        "one SOAP VerifyCertificate",
        median(single_ms),
        target=20.0,
        comparison="<=",
        samples=batch_ms,
        baseline_samples=single_ms,
        details={"rounds": rounds, "singles_per_round": 50, "certificates": rows, "sequential": True},
    )
