"""Bulk verification by CSV, end to end: upload (202), the worker in chunks with visible progress,
the result CSV (formula-safe) and the signed XML report checked with xmlsec1; jobs are private."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest

import hub.election.jobs as jobs
from forms.safexml import parse_untrusted_xml
from hub.certificates.keys import DocumentKeys
from hub.election.answers import NS
from hub.lookup import process_service
from tests.hub.election.conftest import Election

JOBS = "/api/v1/election/jobs"
E = "{" + NS + "}"


def upload(election: Election, authority: dict[str, Any], body: bytes, status: int = 202, **kw: Any) -> Any:
    headers = {**authority["headers"], "Content-Type": kw.pop("content_type", "text/csv; charset=utf-8")}
    return election.app.post(JOBS, body, headers=headers, status=status)


def test_csv_job_end_to_end(election: Election, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good, code, mobile = election.certificate(samagra_id="923456781")
    revoked, revoked_code, _ = election.certificate(revoked=True)
    authority = election.authority()
    lines = ["ref,number,code,holder_name,samagra_id"]
    lines.append(f"C-1,{good.number},{code},,")
    lines.append(f"C-2,{good.number},,,923456781")
    lines.append(f'"=HYPERLINK(""http://evil.invalid"")",{good.number},WRNG-WRNG-WRNG,,')
    lines.append("C-4,not a number,,,")
    lines.append(f"C-5,{revoked.number},{revoked_code},,")
    # Enough rows for three chunks, so progress shows between them.
    lines += [f"X-{i},{good.number},{code},," for i in range(jobs.CHUNK * 2)]
    body = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(jobs, "CHUNK", jobs.CHUNK)

    created = upload(election, authority, body)
    job = created.json
    assert job["status"] == "queued" and job["total_rows"] == len(lines) - 1
    assert created.headers["Location"].endswith(job["job_id"])
    url = f"{JOBS}/{job['job_id']}"
    assert election.app.get(url + "/result.csv", headers=authority["headers"], status=409)

    # Another authority sees nothing, not even that the job exists.
    other = election.authority()
    for suffix in ("", "/result.csv", "/result.xml"):
        assert (
            election.app.get(url + suffix, headers=other["headers"], status=404).json["code"] == "not_found"
        )

    seen: list[tuple[str, int]] = []
    verify_chunk = jobs.verify_many

    def watching(*args: Any, **kwargs: Any) -> Any:
        # Called as each chunk starts: what a client polling the job sees between chunks.
        state = election.app.get(url, headers=authority["headers"]).json
        seen.append((state["status"], state["processed_rows"]))
        return verify_chunk(*args, **kwargs)

    monkeypatch.setattr(jobs, "verify_many", watching)
    election.drain()
    assert seen == [("running", 0), ("running", 500), ("running", 1000)]
    done = election.app.get(url, headers=authority["headers"]).json
    assert done["status"] == "done" and done["processed_rows"] == done["total_rows"]
    assert set(done["links"]) == {"self", "csv", "xml"}

    # The result CSV: one row per candidate, formulas defused, Devanagari-safe BOM.
    answer = election.app.get(done["links"]["csv"], headers=authority["headers"])
    assert answer.content_type == "text/csv"
    assert answer.body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8-sig"))))
    assert len(rows) == len(lines) - 1
    assert [(r["ref"], r["status"] or r["error_code"]) for r in rows[:5]] == [
        ("C-1", "valid"),
        ("C-2", "valid"),
        ('\'=HYPERLINK("http://evil.invalid")', "unknown"),
        ("C-4", "validation_failed"),
        ("C-5", "revoked"),
    ]
    assert rows[0]["holder_name"] == "किरण शर्मा (Kiran Sharma)" and rows[0]["line"] == "2"
    assert rows[3]["error_field"] == "number"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())

    # The signed XML report: xmlsec1 accepts it against the hub's CA, and refuses an edited copy.
    xml = election.app.get(done["links"]["xml"], headers=authority["headers"])
    report = parse_untrusted_xml(xml.body, max_bytes=8 * 1024 * 1024)
    assert report.tag == E + "VerificationReport"
    assert report.findtext(E + "job_id") == job["job_id"]
    assert int(report.findtext(E + "count") or 0) == len(lines) - 1
    path = tmp_path / "report.xml"
    path.write_bytes(xml.body)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(process_service(election.registry, DocumentKeys).keyring.trust_anchor_pem())
    verify = ["xmlsec1", "--verify", "--trusted-pem", str(ca), "--enabled-reference-uris", "empty", str(path)]
    checked = subprocess.run(verify, capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr
    path.write_bytes(xml.body.replace(b"<e:status>revoked</e:status>", b"<e:status>valid</e:status>", 1))
    assert subprocess.run(verify, capture_output=True, text=True, timeout=60, check=False).returncode != 0

    # 1,002 verifications of the same certificate: its holder got one SMS.
    election.drain()
    assert len(election.sms(mobile)) == 1


def test_upload_refusals(election: Election) -> None:
    authority = election.authority()
    good = b"number,code\nMPCZ/ND/2026-27/000001,AAAA-BBBB-CCCC\n"
    assert upload(election, authority, good, status=415, content_type="application/json").json["code"] == (
        "unsupported_media_type"
    )
    for body in (b"", b"ref,code\nx,y\n", "number\n".encode("utf-16"), b"number,code\n", b"number\x00\n1\n"):
        assert upload(election, authority, body, status=400).json["code"] == "validation_failed", body
    limits = process_service(election.registry, jobs.JobLimits)
    too_big = b"number\n" + b"MPCZ/ND/2026-27/000001\n" * (limits.max_bytes // 20)
    assert upload(election, authority, too_big, status=413).json["code"] == "body_too_large"
    too_many = b"number\n" + b"A1B2\n" * (limits.max_rows + 1)
    assert upload(election, authority, too_many, status=400).json["code"] == "validation_failed"
    assert election.app.post(JOBS, good, headers={"Content-Type": "text/csv"}, status=401)


def test_safe_cell_defuses_formulas() -> None:
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "＝1"):
        assert jobs.safe_cell(dangerous).startswith("'")
    assert jobs.safe_cell("MPCZ/ND/2026-27/000001") == "MPCZ/ND/2026-27/000001"
    assert jobs.safe_cell(None) == "" and jobs.safe_cell(True) == "true"
