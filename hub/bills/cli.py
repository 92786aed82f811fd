"""``hub-admin <ini> bills ...``: reconcile a channel's day, from its settlement report or a file."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any


def cmd_bills_reconcile(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from connectors.errors import ConnectorError
    from hub.bills import configured_channels
    from hub.bills.reconciliation import DailyReconciliation, Reconciler
    from hub.commands import engine_for, reference_store_for
    from hub.models.bills import ReconciliationRun
    from hub.systems import build_connectors

    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        print("hub-admin: --day must be YYYY-MM-DD", file=sys.stderr)
        return 2
    channels = configured_channels(settings)
    if args.channel not in channels:
        print(f"hub-admin: no channel {args.channel} (hub.bills.channels_file)", file=sys.stderr)
        return 2
    settlement = channels[args.channel].settlement
    if args.file is None and settlement is None:
        print(f"hub-admin: channel {args.channel} has no settlement report: give --file", file=sys.stderr)
        return 2
    connectors = build_connectors(settings, reference_store_for(settings))
    billing = connectors.get("billing")
    if billing is None:
        print("hub-admin: no billing connector configured (hub.billing.backend)", file=sys.stderr)
        return 2
    if args.file is None and connectors.get(str(settlement)) is None:
        print(f"hub-admin: no {settlement} connector configured", file=sys.stderr)
        return 2
    engine = engine_for(settings)
    try:
        if args.file is None:
            daily = DailyReconciliation(
                lambda: engine, {args.channel: str(settlement)}, connectors.__getitem__, (0, 0)
            )
            run_id = daily.reconcile(args.channel, day, "hub-admin")
        else:
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
        print(f"hub-admin: nothing recorded, a system did not answer: {exc}", file=sys.stderr)
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
    p.add_argument(
        "--file",
        help="CSV: transaction_id,amount,paid_on; without it, the channel's own settlement report "
        '(channels with "settlement" in hub.bills.channels_file); a re-run supersedes the day\'s open items',
    )
    p.set_defaults(func=cmd_bills_reconcile)
