"""``hub-admin <ini> energy ...``: run a month's energy audit now, print a node's figures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_energy_audit(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from connectors.errors import ConnectorError
    from hub.commands import outside_systems
    from hub.energy.service import AuditRefused, check_period_over, run_audit
    from hub.network.service import sync_network

    try:
        check_period_over(args.period)
    except AuditRefused as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 2
    with outside_systems(settings) as (registry, connectors):
        mdas, billing, gis = connectors.get("meterdata"), connectors.get("billing"), connectors.get("network")
        if mdas is None or billing is None or gis is None:
            print(
                "hub-admin: the audit needs hub.meterdata.backend, hub.billing.backend and hub.network.backend",
                file=sys.stderr,
            )
            return 2
        try:
            # Consumers are placed on the DTs the network supplies them from: the GIS's feed first.
            sync_network(registry, gis, int(settings["hub.network.page_size"]))
            report = run_audit(registry, mdas, billing, args.period, "hub-admin")
        except ConnectorError as exc:
            print(f"hub-admin: nothing computed, {exc}", file=sys.stderr)
            return 1
    print(json.dumps(report.__dict__ if report is not None else {"period": args.period}))
    return 0


def cmd_energy_show(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.energy.service import DISCOM, children, measures, result

    code = args.code or DISCOM
    with session_scope(settings) as session:
        row = result(session, args.period, args.level, code)
        if row is None:
            print(f"hub-admin: no {args.level} {code} in the audit of {args.period}", file=sys.stderr)
            return 1
        print(json.dumps(measures(row), default=str, ensure_ascii=False))
        for child in children(session, args.period, args.level, code):
            print(json.dumps(measures(child), default=str, ensure_ascii=False))
    return 0


def register(sub: Any) -> None:
    from hub.energy.service import LEVELS

    energy = sub.add_parser(
        "energy", help="the energy audit (feeder and DT energy accounting)"
    ).add_subparsers(dest="energy_command", required=True)
    p = energy.add_parser("audit", help="import and compute a month's audit now (YYYY-MM)")
    p.add_argument("--period", required=True)
    p.set_defaults(func=cmd_energy_audit)
    p = energy.add_parser("show", help="a node's month, then its children's, one JSON object per line")
    p.add_argument("--period", required=True)
    p.add_argument("--level", choices=LEVELS, default="discom")
    p.add_argument("--code", default=None)
    p.set_defaults(func=cmd_energy_show)
