"""The officers' console on its own: sign-in, cookies, CSRF, throttling, the queue of any workflow, escalation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from webtest import TestApp

from hub.console import CaseProviders, CaseView, Evidence, Field
from hub.console.officers import OfficerError, create_officer
from hub.lookup import process_service, registered
from hub.models.meta import utcnow
from hub.models.throttle import SignInFailures
from hub.models.workflow import WorkflowCase
from hub.workflow import WorkflowDefinition, WorkflowRegistry

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# A workflow that is not the no-dues one: the console must not care which.
TOY = {
    "name": "console_toy",
    "version": 1,
    "initial": "waiting",
    "states": {
        "waiting": {
            "label_en": "Waiting",
            "label_hi": "प्रतीक्षा",
            "role": "dgm",
            "time_limit_hours": 2,
            "escalate_to": ["gm"],
            "actions": [
                {"name": "approve", "to": "done", "roles": ["dgm", "gm"], "label_hi": "स्वीकृत करें"},
                {"name": "reject", "to": "done", "roles": ["dgm", "gm"], "requires_reason": True},
            ],
        },
        "done": {"label_en": "Done", "label_hi": "पूर्ण"},
    },
}


class ToyProvider:
    def title(self, session: Session, case: WorkflowCase) -> str:
        return f"Toy <b>{case.subject_id}</b>"

    def case_view(self, session: Session, case: WorkflowCase) -> CaseView:
        return CaseView(
            title=self.title(session, case),
            summary=[Field("विषय", "Subject", "<script>alert(1)</script>")],
            evidence=[Evidence("साक्ष्य", "Evidence", [("क", "A")], [["EVIDENCE-REF-42"]], [False])],
        )


@pytest.fixture()
def console(testapp: TestApp, dbsession: Session) -> dict[str, Any]:
    registry = testapp.app.registry
    workflows: WorkflowRegistry = process_service(registry, WorkflowRegistry)
    if "console_toy" not in workflows.latest:
        workflows.add(WorkflowDefinition.from_dict(TOY))
        registered(registry, CaseProviders)["console_toy"] = ToyProvider()
    # The cookie is Secure by default: browse over https so WebTest sends it back.
    testapp.extra_environ["wsgi.url_scheme"] = "https"
    create_officer(dbsession, "dgm.one", "Suresh Verma", PASSWORD, ["dgm"], ["DIV-BPL-1"])
    create_officer(dbsession, "gm.one", "महेश गुप्ता", PASSWORD, ["gm"], ["DIV-BPL-1"])
    create_officer(dbsession, "dgm.other", "Other DGM", PASSWORD, ["dgm"], ["DIV-GWL-1"])
    case = workflows.start(dbsession, "console_toy", "toy", "T-1", "DIV-BPL-1", "test", "applicant")
    dbsession.flush()
    return {"app": testapp, "case": case, "workflows": workflows, "session": dbsession}


def _login(app: TestApp, username: str, password: str = PASSWORD, status: int | str = 302) -> Any:
    token = CSRF.search(app.get("/console/login").text)
    assert token is not None
    return app.post(
        "/console/login",
        {"username": username, "password": password, "csrf_token": token.group(1)},
        status=status,
    )


def test_sign_in_sets_a_hardened_cookie_and_shows_the_queue(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    assert app.get("/console", status=302).location.endswith("/console/login")
    answer = _login(app, "dgm.one")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "secure" in cookie.lower()
    page = app.get("/console")
    assert "Toy &lt;b&gt;T-1&lt;/b&gt;" in page.text  # autoescaped
    assert "प्रतीक्षा" in page.text and "Waiting" in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    case_page = app.get(f"/console/cases/{console['case'].id}")
    assert "EVIDENCE-REF-42" in case_page.text and "<script>alert(1)</script>" not in case_page.text


def test_post_without_csrf_token_is_refused(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    refused = app.post("/console/login", {"username": "dgm.one", "password": PASSWORD}, status=403)
    assert "फ़ॉर्म की अवधि समाप्त" in refused.text
    _login(app, "dgm.one")
    case_id = console["case"].id
    app.post(f"/console/cases/{case_id}/decide", {"action": "approve"}, status=403)
    app.post(f"/console/cases/{case_id}/decide", {"action": "approve", "csrf_token": "forged"}, status=403)
    console["session"].refresh(console["case"])
    assert console["case"].state == "waiting"


def _browser(app: TestApp, address: str) -> TestApp:
    """A browser of its own (cookie jar) at ``address``, in the test's transaction."""
    return TestApp(app.app, extra_environ={**app.extra_environ, "REMOTE_ADDR": address})


def _let_time_pass(session: Session) -> None:
    """Every wait is over (the counts stay), as if the caller had waited."""
    session.execute(update(SignInFailures).values(blocked_until=utcnow()))


def test_a_strangers_wrong_passwords_never_lock_the_officer_out(console: dict[str, Any]) -> None:
    stranger = _browser(console["app"], "203.0.113.7")
    answers = [_login(stranger, "dgm.one", "wrong password!", status="*").status_int for _ in range(12)]
    assert answers[:5] == [401] * 5 and set(answers[6:]) == {429}
    # The officer at their own desk signs in at once.
    officer = _browser(console["app"], "198.51.100.20")
    assert _login(officer, "dgm.one").location.endswith("/console")
    assert "Suresh Verma" in officer.get("/console").text


def test_wrong_passwords_from_one_address_wait_longer_and_longer(console: dict[str, Any]) -> None:
    guesser = _browser(console["app"], "203.0.113.8")
    for _ in range(5):
        assert "Wrong username or password" in _login(guesser, "dgm.one", "wrong password!", status=401).text
    waits = []
    for _ in range(4):
        _login(guesser, "dgm.one", "wrong password!", status=401)
        # Waiting: not even the right password is checked, and the page says how long.
        refused = _login(guesser, "dgm.one", status=429)
        assert "Too many wrong attempts" in refused.text and "बहुत से गलत प्रयास" in refused.text
        waits.append(int(refused.headers["Retry-After"]))
        _let_time_pass(console["session"])
    assert waits == [1, 2, 4, 8]
    # Once the wait is over the right password works, and the account's count starts afresh.
    assert _login(guesser, "dgm.one").status_int == 302
    guesser.reset()
    assert _login(guesser, "dgm.one", "wrong password!", status=401)


def test_one_address_cannot_try_many_accounts(console: dict[str, Any]) -> None:
    scanner = _browser(console["app"], "203.0.113.9")
    for n in range(21):
        _login(scanner, f"officer.{n}", "wrong password!", status=401)
    # The address waits, whatever account it names next (unknown names count like known ones).
    assert int(_login(scanner, "gm.one", status=429).headers["Retry-After"]) >= 1
    _login(scanner, "nobody.here", "x" * 12, status=429)
    assert _login(_browser(console["app"], "198.51.100.21"), "gm.one").status_int == 302


def test_decisions_follow_roles_offices_and_reasons(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    case = console["case"]
    other = TestApp(app.app, extra_environ=dict(app.extra_environ))
    _login(other, "dgm.other")
    assert "T-1" not in other.get("/console").text
    assert other.get(f"/console/cases/{case.id}", status=302).location.endswith("/console")
    _login(app, "dgm.one")
    page = app.get(f"/console/cases/{case.id}")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    refused = app.post(
        f"/console/cases/{case.id}/decide", {"action": "reject", "csrf_token": token}, status=409
    )
    assert "A reason is required" in refused.text
    app.post(
        f"/console/cases/{case.id}/decide",
        {"action": "approve", "csrf_token": token, "confirm": "yes"},
        status=302,
    )
    console["session"].refresh(case)
    assert case.state == "done"
    queue = app.get("/console").text
    assert "स्वीकृत करें / approve: T-1" in queue  # the flash
    assert "Toy &lt;b&gt;T-1" not in queue


def test_escalation_moves_the_case_to_the_gm(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    workflows: WorkflowRegistry = console["workflows"]
    breaches = workflows.escalate_overdue(console["session"], now=utcnow() + timedelta(hours=3))
    assert [b.escalated_to for b in breaches if b.case_id == console["case"].id] == ["gm"]
    _login(app, "dgm.one")
    assert "T-1" not in app.get("/console").text
    gm = TestApp(app.app, extra_environ=dict(app.extra_environ))
    _login(gm, "gm.one")
    assert "T-1" in gm.get("/console").text


def test_logout_ends_the_session(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    _login(app, "dgm.one")
    token = CSRF.search(app.get("/console").text).group(1)  # type: ignore[union-attr]
    app.post("/console/logout", {"csrf_token": token}, status=302)
    assert app.get("/console", status=302).location.endswith("/console/login")


def test_officer_creation_rules(dbsession: Session) -> None:
    with pytest.raises(OfficerError):
        create_officer(dbsession, "dgm.short", "X", "short", ["dgm"], ["DIV-BPL-1"])
    with pytest.raises(OfficerError):
        create_officer(dbsession, "Bad Name", "X", PASSWORD, ["dgm"], ["DIV-BPL-1"])
    officer = create_officer(dbsession, "dgm.cli", "X", PASSWORD, ["dgm"], ["DIV-BPL-1"])
    assert officer.password_hash.startswith("$argon2") and PASSWORD not in officer.password_hash
    with pytest.raises(OfficerError):
        create_officer(dbsession, "dgm.cli", "X", PASSWORD, ["dgm"], ["DIV-BPL-1"])


def test_hub_admin_officers_create(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from hub import cli
    from hub.migrate import upgrade

    url = f"sqlite:///{tmp_path}/cli.sqlite"
    upgrade(url)
    ini = tmp_path / "hub.ini"
    ini.write_text(f"[app:main]\nuse = egg:discom-hub\nhub.database_url = {url}\nhub.secret_key = k\n")
    monkeypatch.setenv("HUB_OFFICER_PASSWORD", PASSWORD)
    argv = [str(ini), "officers", "create", "--username", "dgm.bpl", "--name", "सुरेश", "--role", "dgm"]
    assert cli.main([*argv, "--offices", "DIV-BPL-1 DIV-BPL-2"]) == 0
    assert '"offices": ["DIV-BPL-1", "DIV-BPL-2"]' in capsys.readouterr().out
    assert cli.main([*argv, "--offices", "DIV-BPL-1"]) == 1


def _confirm_form(app: TestApp, case_id: int, action: str, reason: str = "") -> dict[str, str]:
    token = CSRF.search(app.get(f"/console/cases/{case_id}").text)
    assert token is not None
    return {"action": action, "reason": reason, "csrf_token": token.group(1)}


def test_an_irreversible_action_waits_for_the_officers_confirmation(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    case = console["case"]
    _login(app, "dgm.one")
    form = _confirm_form(app, case.id, "approve")
    # Pressing Approve asks first: a page saying what will happen, nothing decided yet.
    asked = app.post(f"/console/cases/{case.id}/decide", form, status=200)
    assert "Confirm: approve" in asked.text and "This cannot be undone" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    console["session"].refresh(case)
    assert case.state == "waiting"
    # Anything but the confirmation page's answer is refused.
    refused = app.post(f"/console/cases/{case.id}/decide", {**form, "confirm": "no"}, status=409)
    assert "it needs your confirmation" in refused.text
    console["session"].refresh(case)
    assert case.state == "waiting"
    # A reason the action needs is asked for before the confirmation, not after.
    no_reason = app.post(f"/console/cases/{case.id}/decide", {**form, "action": "reject"}, status=409)
    assert "A reason is required" in no_reason.text
    app.post(f"/console/cases/{case.id}/decide", {**form, "confirm": "yes"}, status=302)
    console["session"].refresh(case)
    assert case.state == "done"


def test_times_are_in_ist_and_actions_in_words(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    case = console["case"]
    _login(app, "dgm.one")
    form = _confirm_form(app, case.id, "approve")
    app.post(f"/console/cases/{case.id}/decide", {**form, "confirm": "yes"}, status=302)
    queue = app.get("/console").text
    assert "स्वीकृत करें / approve: T-1" in queue  # the workflow's label, not the bare key
    assert "approve: T-1" not in queue.replace("स्वीकृत करें / approve: T-1", "")
    page = app.get(f"/console/cases/{case.id}").text
    from hub.models.meta import IST

    started = console["workflows"].history(console["session"], case)[0].at
    assert started.astimezone(IST).strftime("%d-%m-%Y %H:%M IST") in page
    assert "UTC" not in page
    assert "आवेदन प्राप्त" in page and "Application received" in page
    assert "<td>start</td>" not in page and "<td>approve</td>" not in page
    assert "उप महाप्रबंधक / DGM" in page and "(dgm)" not in page  # roles in words too


def test_the_console_serves_its_own_fonts_and_its_policy_allows_them(console: dict[str, Any]) -> None:
    app: TestApp = console["app"]
    login = app.get("/console/login")
    assert "font-src 'self'" in login.headers["Content-Security-Policy"]
    urls = re.findall(r'url\("([^"]+)"\) format\("truetype"\)', login.text)
    assert "/console/fonts/NotoSansDevanagari-Regular.ttf" in urls and len(urls) == 4
    for url in urls:
        font = app.get(url)  # no sign-in needed: the sign-in page shows Devanagari too
        assert font.content_type == "font/ttf"
        assert font.body[:4] == b"\x00\x01\x00\x00"  # a TrueType file
        assert "max-age=31536000" in font.headers["Cache-Control"]
    app.get("/console/fonts/OFL.txt", status=404)
    app.get("/console/fonts/..%2F..%2Fsetup.cfg", status=404)


def test_a_many_connection_no_dues_case_starts_with_its_summary(console: dict[str, Any]) -> None:
    from hub.models.nodues import ConsumerAccount, NoDuesApplication, NoDuesCheck
    from hub.nodues.workflow import SUBJECT_TYPE, WORKFLOW
    from hub.workflow import SYSTEM_ROLE

    session: Session = console["session"]
    account = ConsumerAccount(public_id="ACC-MANY", client_id="c_test", mobile="9826000001")
    session.add(account)
    session.flush()
    numbers = [f"N{n:010d}" for n in range(25)]
    app = NoDuesApplication(
        public_id="ND-MANY-1",
        client_id="c_test",
        account_id=account.id,
        name_deva="रमेश कुमार",
        name_latin="Ramesh Kumar",
        samagra_id="123456789",
        mobile="9826000001",
        connections=numbers,
        purpose={"election": "gram_panchayat", "body": "ग्राम पंचायत कोलार", "ward": "7"},
        office_code="DIV-BPL-1",
        status="awaiting_decision",
    )
    session.add(app)
    session.flush()
    for i, number in enumerate(numbers):
        owed = "4572.50" if i == 3 else "0.00"
        session.add_all(
            [
                NoDuesCheck(
                    application_id=app.id,
                    name="dues",
                    consumer_number=number,
                    result="fail" if i == 3 else "pass",
                    evidence_ref=f"RB-{i}",
                    details={"amount": owed, "as_of": "2026-12-04"},
                ),
                NoDuesCheck(
                    application_id=app.id,
                    name="meter",
                    consumer_number=number,
                    result="pass",
                    evidence_ref=f"billing:meter:{i}",
                    details={"health": "healthy", "meter_type": "smart", "meter_number": f"M{i}"},
                ),
                NoDuesCheck(
                    application_id=app.id,
                    name="ekyc",
                    consumer_number=number,
                    result="pass",
                    evidence_ref=f"kyc:{i}",
                    details={"status": "complete"},
                ),
            ]
        )
    workflows: WorkflowRegistry = console["workflows"]
    case = workflows.start(session, WORKFLOW, SUBJECT_TYPE, app.public_id, "DIV-BPL-1", "system", SYSTEM_ROLE)
    session.flush()
    browser: TestApp = console["app"]
    _login(browser, "dgm.one")
    page = browser.get(f"/console/cases/{case.id}").text
    summary = page.index("Case summary")
    for label, value in (
        ("Connections", "25"),
        ("Checks passed", "74 / 75"),
        ("Checks failed", "1 — Outstanding dues"),
        ("Total dues", "₹ 4,572.50"),
    ):
        assert re.search(rf"<small>{label}</small></th><td>{re.escape(value)}</td>", page), label
    # The 75 rows are there, folded below the summary.
    details = page.index("<details>")
    assert summary < details < page.index("RB-24") and page.count("<tr class=") >= 75
    # Values in words, not codes.
    assert "ग्राम पंचायत / Gram panchayat" in page and "ठीक / Healthy" in page
    for raw in (
        "gram_panchayat",
        "healthy",
        ">pass<",
        ": pass",
        "smart<",
        "checks_pending<",
        ">start<",
        "UTC",
    ):
        assert raw not in page, raw


def test_hub_admin_clients_update_replaces_scopes_and_is_audited(tmp_path: Any, capsys: Any) -> None:
    import json

    from sqlalchemy import create_engine, select

    from hub import cli
    from hub.migrate import upgrade
    from hub.models import AuditEntry, PartnerClient

    url = f"sqlite:///{tmp_path}/clients.sqlite"
    upgrade(url)
    ini = tmp_path / "hub.ini"
    ini.write_text(f"[app:main]\nuse = egg:discom-hub\nhub.database_url = {url}\nhub.secret_key = k\n")
    assert (
        cli.main([str(ini), "clients", "create", "--name", "Single window", "--scopes", "connections:apply"])
        == 0
    )
    client_id = json.loads(capsys.readouterr().out)["client_id"]
    scopes = "connections:apply certificates:read"
    assert cli.main([str(ini), "clients", "update", client_id, "--scopes", scopes]) == 0
    assert json.loads(capsys.readouterr().out)["scopes"] == ["certificates:read", "connections:apply"]
    # Unknown scopes and unknown clients change nothing.
    assert cli.main([str(ini), "clients", "update", client_id, "--scopes", "everything:all"]) == 2
    assert cli.main([str(ini), "clients", "update", "c_nobody", "--scopes", "connections:apply"]) == 1
    engine = create_engine(url)
    with Session(engine) as session:
        client = session.execute(
            select(PartnerClient).where(PartnerClient.client_id == client_id)
        ).scalar_one()
        assert client.scopes == ["certificates:read", "connections:apply"]
        entries = (
            session.execute(select(AuditEntry).where(AuditEntry.action == "client.update")).scalars().all()
        )
        assert [(e.actor, e.subject_id) for e in entries] == [("hub-admin", client_id)]
    engine.dispose()
