"""``hub-admin <ini> whatsapp ...``: the monthly bill run (start, stop, resume, status), consent, fallback."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _app_registry(args: argparse.Namespace) -> Any:
    """The registry of the hub the ini describes (the run needs its services and the queue)."""
    from pyramid.paster import get_app

    return get_app(args.ini, "main").registry


def cmd_run_start(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.outbox import unit_of_work
    from hub.whatsapp.service import check_cycle, run_bill_cycle, run_report, start_run

    try:
        check_cycle(args.cycle)
    except ValueError as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 2
    registry = _app_registry(args)
    with unit_of_work(registry) as session:
        start_run(session, args.cycle)
    if args.here:
        # In the foreground until done, stopped (Ctrl-C is a stop: the next start resumes).
        try:
            while True:
                progress = run_bill_cycle(registry, args.cycle, max_seconds=5.0)
                print(json.dumps(progress.__dict__), flush=True)
                if progress.state != "running" or progress.handed_now == 0:
                    break  # done, stopped, or the tier's day is used up (hub-worker goes on tomorrow)
        except KeyboardInterrupt:
            print(
                "hub-admin: interrupted; `whatsapp bill-run start` resumes where it stopped", file=sys.stderr
            )
    with unit_of_work(registry) as session:
        print(json.dumps(run_report(session, args.cycle)))
    return 0


def cmd_run_stop(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.whatsapp.service import run_report, stop_run

    with session_scope(settings) as session:
        if stop_run(session, args.cycle) is None:
            print(f"hub-admin: no bill run for {args.cycle}", file=sys.stderr)
            return 1
        print(json.dumps(run_report(session, args.cycle)))
    return 0


def cmd_run_status(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.whatsapp.service import list_runs, run_report

    with session_scope(settings) as session:
        if args.cycle:
            report = run_report(session, args.cycle)
            if report is None:
                print(f"hub-admin: no bill run for {args.cycle}", file=sys.stderr)
                return 1
            print(json.dumps(report))
        else:
            for report in list_runs(session):
                print(json.dumps(report))
    return 0


def cmd_consent(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.errors import Problem
    from hub.models.whatsapp import WhatsAppNumber
    from hub.whatsapp.service import consent_json, subscriptions_of, wa_id_of

    try:
        wa_id = wa_id_of(args.mobile)
    except Problem:
        print("hub-admin: not an Indian mobile number", file=sys.stderr)
        return 2
    with session_scope(settings) as session:
        print(
            json.dumps(
                consent_json(session.get(WhatsAppNumber, wa_id), wa_id, subscriptions_of(session, wa_id))
            )
        )
    return 0


def cmd_fallback(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.lookup import process_service
    from hub.whatsapp.service import WhatsAppService

    registry = _app_registry(args)
    service: WhatsAppService = process_service(registry, WhatsAppService)
    print(json.dumps({"fell_back": service.fallback_job()}))
    return 0


def register(sub: Any) -> None:
    whatsapp = sub.add_parser(
        "whatsapp", help="WhatsApp: the monthly bill run, consent, SMS fallback"
    ).add_subparsers(dest="whatsapp_command", required=True)
    runs = whatsapp.add_parser("bill-run", help="a billing cycle's bill run").add_subparsers(
        dest="bill_run_command", required=True
    )
    p = runs.add_parser(
        "start", help="start or resume the run of CYCLE (YYYY-MM); hub-worker goes on with it"
    )
    p.add_argument("cycle")
    p.add_argument("--here", action="store_true", help="hand off in this process until done or stopped")
    p.set_defaults(func=cmd_run_start)
    p = runs.add_parser("stop", help="stop the run of CYCLE after its current page")
    p.add_argument("cycle")
    p.set_defaults(func=cmd_run_stop)
    p = runs.add_parser(
        "status", help="progress and sent / delivered / read / failed / fell back, one JSON per run"
    )
    p.add_argument("cycle", nargs="?", default=None)
    p.set_defaults(func=cmd_run_status)
    p = whatsapp.add_parser("consent", help="a mobile's consent with its evidence")
    p.add_argument("mobile")
    p.set_defaults(func=cmd_consent)
    p = whatsapp.add_parser(
        "fallback", help="send by SMS now what WhatsApp failed or did not deliver in time"
    )
    p.set_defaults(func=cmd_fallback)
