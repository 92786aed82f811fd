"""``hub-admin <ini> network ...``: apply the GIS's feed now, list the unmapped consumers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hub.db import standalone_registry


def cmd_network_sync(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from connectors.errors import ConnectorError
    from hub.commands import engine_for, reference_store_for
    from hub.network.service import NetworkSettings, sync_network
    from hub.systems import build_connectors

    engine = engine_for(settings)
    reference_store = reference_store_for(settings)
    gis = build_connectors(settings, reference_store).get("network")
    if gis is None:
        print("hub-admin: no network connector configured (hub.network.backend)", file=sys.stderr)
        return 2
    try:
        report = sync_network(
            standalone_registry(engine),
            gis,
            NetworkSettings.from_settings(settings).page_size,
            args.max_pages,
        )
    except ConnectorError as exc:
        print(f"hub-admin: the GIS failed: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
        if reference_store is not None:
            reference_store.dispose()
    print(json.dumps(report.__dict__))
    return 0


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
