"""``hub-admin <ini> network ...``: apply the GIS's feed now, list the unmapped consumers."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_network_sync(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import sync_from
    from hub.network.service import NetworkSettings, sync_network

    page_size = NetworkSettings.from_settings(settings).page_size
    return sync_from(settings, "network", lambda db, gis: sync_network(db, gis, page_size, args.max_pages))


def cmd_network_unmapped(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.network.service import unmapped, unmapped_counts

    with session_scope(settings) as session:
        print(json.dumps({"counts": unmapped_counts(session)}))
        for row in unmapped(session, "", args.limit, args.reason):
            print(json.dumps(row))
    return 0


def register(sub: Any) -> None:
    from hub.network.service import UNMAPPED_REASONS

    network = sub.add_parser("network", help="the network behind the meters (GIS feed)").add_subparsers(
        dest="network_command", required=True
    )
    p = network.add_parser("sync", help="apply the GIS's change feed now")
    p.add_argument("--max-pages", type=int, default=None)
    p.set_defaults(func=cmd_network_sync)
    p = network.add_parser("unmapped", help="counts by reason, then the consumers, one JSON object per line")
    p.add_argument("--reason", choices=UNMAPPED_REASONS, default=None)
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=cmd_network_unmapped)
