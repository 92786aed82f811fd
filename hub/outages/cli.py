"""``hub-admin <ini> outages ...``: apply billing's contacts feed now, or load billing's extract of
consumers' mobiles and e-mails; list current outages."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_outages_contacts(settings: dict[str, Any], args: argparse.Namespace) -> int:
    if args.sync == (args.file is not None):
        print("hub-admin: give either the extract FILE or --sync", file=sys.stderr)
        return 2
    if args.sync:
        return sync_contacts_now(settings, args.max_pages)
    from hub.commands import load_extract
    from hub.outages.service import load_contacts

    return load_extract(settings, args.file, {"consumer_number", "mobile", "email"}, load_contacts)


def sync_contacts_now(settings: dict[str, Any], max_pages: int | None) -> int:
    """Apply billing's contacts feed now; exit status 1 if billing failed (position kept)."""
    from hub.commands import sync_from
    from hub.outages.service import ContactFeedSettings, sync_contacts

    page_size = ContactFeedSettings.from_settings(settings).page_size
    return sync_from(
        settings, "billing", lambda db, billing: sync_contacts(db, billing, page_size, max_pages)
    )


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
    p = outages.add_parser(
        "contacts",
        help="apply billing's contacts feed now (--sync), or load its CSV extract: consumer_number,mobile,email",
    )
    p.add_argument("file", nargs="?", default=None)
    p.add_argument("--sync", action="store_true", help="read billing's contacts feed to its end now")
    p.add_argument("--max-pages", type=int, default=None)
    p.set_defaults(func=cmd_outages_contacts)
    p = outages.add_parser("current", help="current and announced outages, one JSON object per line")
    p.add_argument("--dc", default=None)
    p.add_argument("--feeder", default=None)
    p.set_defaults(func=cmd_outages_current)
