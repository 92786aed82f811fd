"""``hub-admin <ini> meters ...``: smart-meter commands, by consumer and in the field queue."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_meters_status(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from hub.commands import session_scope
    from hub.meters.service import describe
    from hub.models.meter import MeterCommand

    with session_scope(settings) as session:
        query = select(MeterCommand).order_by(MeterCommand.id.desc()).limit(args.limit)
        if args.consumer_number:
            query = query.where(MeterCommand.consumer_number == args.consumer_number)
        if args.status:
            query = query.where(MeterCommand.status == args.status)
        if args.office:
            query = query.where(MeterCommand.dc_code == args.office)
        for row in session.scalars(query):
            print(json.dumps({**describe(row), "consumer_number": row.consumer_number, "dc": row.dc_code}))
    return 0


def register(sub: Any) -> None:
    meters = sub.add_parser("meters", help="smart-meter remote commands").add_subparsers(
        dest="meters_command", required=True
    )
    p = meters.add_parser("list", help="commands, newest first, one JSON object per line")
    p.add_argument("--consumer-number", default=None)
    p.add_argument(
        "--status",
        choices=("requested", "accepted", "executed", "failed", "expired", "field_visit", "withdrawn"),
        default=None,
        help="field_visit: the distribution centres' field queue",
    )
    p.add_argument("--office", default=None, help="a distribution centre's code, e.g. DC-101")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_meters_status)
