"""``hub-admin <ini> bills ...``: reconcile a channel's settlement file for a day."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any


def cmd_bills_reconcile(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from connectors.errors import ConnectorError
    from hub.bills.reconciliation import Reconciler
    from hub.commands import engine_for, reference_store_for
    from hub.models.bills import ReconciliationRun
    from hub.systems import build_connectors

    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        print("hub-admin: --day must be YYYY-MM-DD", file=sys.stderr)
        return 2
    engine = engine_for(settings)
    billing = build_connectors(settings, reference_store_for(settings)).get("billing")
    if billing is None:
        print("hub-admin: no billing connector configured (hub.billing.backend)", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as lines:
            run_id = Reconciler(engine).run(
                args.channel, day, args.file, lines, billing.payments_posted_tsv(day), "hub-admin"
            )
        with engine.connect() as conn:
            counts = conn.execute(
                select(ReconciliationRun.counts).where(ReconciliationRun.id == run_id)
            ).scalar_one()
    except (OSError, ValueError) as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 2
    except ConnectorError as exc:
        print(f"hub-admin: billing failed: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(json.dumps({"run_id": run_id, "counts": counts}))
    return 0


def register(sub: Any) -> None:
    bills = sub.add_parser("bills", help="bills and payments").add_subparsers(
        dest="bills_command", required=True
    )
    p = bills.add_parser(
        "reconcile",
        help="match a channel's settlement file for a day with the hub's payments and billing's ledger",
    )
    p.add_argument("--channel", required=True, help="the channel's name (hub.bills.channels_file)")
    p.add_argument("--day", required=True, help="settlement day, YYYY-MM-DD (India)")
    p.add_argument("--file", required=True, help="CSV: transaction_id,amount,paid_on")
    p.set_defaults(func=cmd_bills_reconcile)
