"""``hub-admin <ini> kyc ...``: sync from the KYC connector, and DBT field policies."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_kyc_sync(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import sync_from
    from hub.kyc.sync import sync_kyc

    return sync_from(
        settings,
        "kyc",
        lambda registry, kyc: sync_kyc(
            registry,
            kyc,
            page_size=args.page_size,
            max_pages=args.max_pages,
            secret_key=settings["hub.secret_key"],
        ),
        # The counts, not every rejected consumer's number.
        shown=lambda result: result.as_json(),
    )


def cmd_kyc_policy_set(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.kyc.policy import PolicyError, set_policy

    try:
        with session_scope(settings) as session:
            policy = set_policy(
                session,
                args.client,
                args.purpose,
                args.fields,
                full_bank_account=args.full_bank_account,
                uniform_absent=args.uniform_absent,
            )
    except PolicyError as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "client": policy.client_id,
                "purpose": policy.purpose,
                "fields": list(policy.fields),
                "full_bank_account": policy.full_bank_account,
                "uniform_absent": policy.uniform_absent,
            }
        )
    )
    return 0


def cmd_kyc_policy_list(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from hub.commands import session_scope
    from hub.models.kyc import KycFieldPolicy

    with session_scope(settings) as session:
        query = select(KycFieldPolicy).order_by(KycFieldPolicy.client_id, KycFieldPolicy.purpose)
        if args.client:
            query = query.where(KycFieldPolicy.client_id == args.client)
        for row in session.execute(query).scalars():
            print(
                json.dumps(
                    {
                        "client": row.client_id,
                        "purpose": row.purpose,
                        "fields": row.fields.split(","),
                        "full_bank_account": row.full_bank_account,
                        "uniform_absent": row.uniform_absent,
                    }
                )
            )
    return 0


def register(sub: Any) -> None:
    kyc = sub.add_parser("kyc", help="KYC for DBT schemes").add_subparsers(dest="kyc_command", required=True)
    p = kyc.add_parser("sync", help="pull the KYC connector's change feed into the hub now")
    p.add_argument("--page-size", type=int, default=500)
    p.add_argument("--max-pages", type=int, default=10_000)
    p.set_defaults(func=cmd_kyc_sync)
    policy = kyc.add_parser("policy", help="DBT clients' field policies").add_subparsers(
        dest="policy_command", required=True
    )
    p = policy.add_parser("set", help="create or replace the policy of a client for one of its purposes")
    p.add_argument("--client", required=True, help="client id (hub-admin clients list)")
    p.add_argument("--purpose", required=True, help="one of the client's purposes (scheme)")
    p.add_argument(
        "--fields",
        required=True,
        help='comma-separated, e.g. "consumer_number,holder_name_hi,bank_account,ifsc"',
    )
    p.add_argument(
        "--full-bank-account", action="store_true", help="release the full number (default: masked)"
    )
    p.add_argument(
        "--uniform-absent", action="store_true", help='answer "unknown" and "no consent" alike (anti-probing)'
    )
    p.set_defaults(func=cmd_kyc_policy_set)
    p = policy.add_parser("list", help="policies, one JSON object per line")
    p.add_argument("--client", default=None)
    p.set_defaults(func=cmd_kyc_policy_list)
