"""``hub-admin <ini> outages ...``: load billing's extract of consumers' mobiles and e-mails; list
current outages."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_outages_contacts(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import load_extract
    from hub.outages.service import load_contacts

    return load_extract(settings, args.file, {"consumer_number", "mobile", "email"}, load_contacts)


def cmd_outages_current(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.outages.service import OutageService, OutageSettings

    service = OutageService({}, OutageSettings.from_settings(settings))  # type: ignore[arg-type]
    with session_scope(settings) as session:
        for row in service.current(session, dc=args.dc, feeder=args.feeder):
            print(json.dumps(row, ensure_ascii=False))
    return 0


def register(sub: Any) -> None:
    outages = sub.add_parser("outages", help="outage notices").add_subparsers(
        dest="outages_command", required=True
    )
    p = outages.add_parser("contacts", help="load billing's CSV extract: consumer_number,mobile,email")
    p.add_argument("file")
    p.set_defaults(func=cmd_outages_contacts)
    p = outages.add_parser("current", help="current and announced outages, one JSON object per line")
    p.add_argument("--dc", default=None)
    p.add_argument("--feeder", default=None)
    p.set_defaults(func=cmd_outages_current)
