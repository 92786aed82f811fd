"""``hub-admin <ini> complaints ...``: complaints by office, state or consumer, and the standards in force."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_complaints_list(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from hub.commands import session_scope
    from hub.models.complaint import Complaint

    with session_scope(settings) as session:
        query = select(Complaint).order_by(Complaint.id.desc()).limit(args.limit)
        if args.consumer_number:
            query = query.where(Complaint.consumer_number == args.consumer_number)
        if args.state:
            query = query.where(Complaint.state == args.state)
        if args.office:
            query = query.where(Complaint.office_code == args.office)
        for row in session.scalars(query):
            print(
                json.dumps(
                    {
                        "complaint_no": row.complaint_no,
                        "channel": row.channel,
                        "ticket_id": row.ticket_id,
                        "consumer_number": row.consumer_number,
                        "type": row.complaint_type,
                        "office": row.office_code,
                        "state": row.state,
                        "level": row.level,
                        "resolve_by": row.sop_due_at.isoformat(),
                        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
                        "compensation": None
                        if row.compensation_amount is None
                        else str(row.compensation_amount),
                        "compensation_receipt": row.compensation_receipt,
                    },
                    ensure_ascii=False,
                )
            )
    return 0


def cmd_complaints_standards(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.complaints.workflow import load_standards

    standards = load_standards(settings)
    for kind in standards.types.values():
        comp = kind.compensation
        print(
            json.dumps(
                {
                    "type": kind.code,
                    "label_en": kind.label_en,
                    "label_hi": kind.label_hi,
                    "standard_hours": kind.standard_hours,
                    "levels": list(kind.levels),
                    "level_hours": kind.level_hours,
                    "compensation": None
                    if comp is None
                    else {
                        "rupees": str(comp.rupees),
                        "per_hours": comp.per_hours,
                        "max_rupees": str(comp.maximum),
                    },
                },
                ensure_ascii=False,
            )
        )
    return 0


def register(sub: Any) -> None:
    complaints = sub.add_parser("complaints", help="consumer complaints").add_subparsers(
        dest="complaints_command", required=True
    )
    p = complaints.add_parser("list", help="complaints, newest first, one JSON object per line")
    p.add_argument("--consumer-number", default=None)
    p.add_argument("--state", choices=("open", "in_progress", "resolved"), default=None)
    p.add_argument("--office", default=None, help="a distribution centre's code, e.g. DC-101")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_complaints_list)
    p = complaints.add_parser(
        "standards", help="the complaint types and standards in force, one JSON object per line"
    )
    p.set_defaults(func=cmd_complaints_standards)
