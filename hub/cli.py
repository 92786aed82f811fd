"""``hub-admin <ini> <command>``: what an operator does to a hub.

Each subcommand is a function taking the loaded settings and the parsed
arguments; output is JSON where a machine may read it.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from hub.commands import engine_for, load_extract, load_settings, reference_store_for, session_scope

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

Command = Callable[[dict[str, Any], argparse.Namespace], int]


def cmd_migrate(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.migrate import upgrade

    upgrade(settings["hub.database_url"], revision=args.revision)
    # The first token signing key, made here rather than by N server
    # processes racing for it on their first start.
    from hub.auth.tokens import TokenKeyRing
    from hub.crypto import token_key_box
    from hub.db import session_factory

    engine = engine_for(settings)
    TokenKeyRing(
        session_factory(engine),
        token_key_box(settings),
        settings["hub.oauth.token_lifetime"],
    ).reload()
    engine.dispose()
    print(json.dumps({"migrated": True, "revision": args.revision}))
    return 0


def cmd_demo_data(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from connectors.demo import DemoDataExists, generate_demo_data

    # The demo data is the simulated systems' own: it goes to their store, never the hub's database.
    engine = reference_store_for(settings)
    if engine is None:
        print("hub-admin: demo data needs a reference store (hub.reference.database_url)", file=sys.stderr)
        return 2
    total = args.consumers
    state = {"last": -1}

    def progress(done: int, of: int) -> None:
        percent = int(done * 100 / of) if of else 100
        if percent != state["last"]:
            state["last"] = percent
            bar = "#" * (percent // 2)
            print(
                f"\r[{bar:<50}] {percent:3d}% {done:,}/{of:,} consumers", end="", file=sys.stderr, flush=True
            )

    try:
        summary = generate_demo_data(
            engine, consumers=total, seed=args.seed, progress=progress, replace=args.replace
        )
    except DemoDataExists:
        print(json.dumps({"demo_data": "already loaded; pass --replace to reload"}))
        engine.dispose()
        return 0
    print(file=sys.stderr)
    if args.contacts_extract:
        from connectors.demo import write_contacts_extract

        with open(args.contacts_extract, "w", newline="", encoding="utf-8") as out:
            write_contacts_extract(engine, out)
    if args.offices_extract:
        from connectors.demo import write_offices_extract

        with open(args.offices_extract, "w", newline="", encoding="utf-8") as out:
            write_offices_extract(engine, out)
    print(json.dumps(_jsonable(summary), ensure_ascii=False, default=str))
    engine.dispose()
    return 0


def cmd_offices_load(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.offices import load_offices

    return load_extract(settings, args.file, {"code", "level", "parent_code"}, load_offices)


def _jsonable(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def cmd_clients_create(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.auth.clients import create_client
    from hub.crypto import soap_password_box

    with session_scope(settings) as session:
        created = create_client(
            session,
            args.name,
            args.scopes.split(),
            args.purposes.split() if args.purposes else [],
            secret_box=soap_password_box(settings),
            soap=args.soap,
            rate_per_minute=args.rate_per_minute,
        )
    out = {"client_id": created.client_id, "client_secret": created.client_secret}
    if created.soap_password:
        out["soap_username"] = created.client_id
        out["soap_password"] = created.soap_password
    print(json.dumps(out))
    return 0


def cmd_clients_list(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.models import PartnerClient

    with session_scope(settings) as session:
        rows = session.execute(select(PartnerClient).order_by(PartnerClient.id)).scalars().all()
        for row in rows:
            print(
                json.dumps(
                    {
                        "client_id": row.client_id,
                        "name": row.name,
                        "scopes": row.scopes,
                        "purposes": row.purposes,
                        "active": row.active,
                        "soap": row.soap_password_encrypted is not None,
                        "created_at": row.created_at.isoformat(),
                    },
                    ensure_ascii=False,
                )
            )
    return 0


def cmd_clients_update(settings: dict[str, Any], args: argparse.Namespace) -> int:
    """Replace an existing client's scopes (and purposes, if given); audited with the before and after."""
    from hub.audit import record
    from hub.auth.clients import KNOWN_SCOPES
    from hub.models import PartnerClient

    scopes = sorted(set(args.scopes.split()))
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if not scopes or unknown:
        print(
            f"hub-admin: unknown scopes: {' '.join(unknown)}" if unknown else "hub-admin: no scopes",
            file=sys.stderr,
        )
        return 2
    with session_scope(settings) as session:
        client = session.execute(
            select(PartnerClient).where(PartnerClient.client_id == args.client_id)
        ).scalar_one_or_none()
        if client is None or not client.active:
            print(f"hub-admin: no active client {args.client_id}", file=sys.stderr)
            return 1
        before = {"scopes": list(client.scopes), "purposes": list(client.purposes or [])}
        client.scopes = scopes
        if args.purposes is not None:
            client.purposes = sorted(set(args.purposes.split()))
        after = {"scopes": list(client.scopes), "purposes": list(client.purposes or [])}
        record(
            session,
            "hub-admin",
            "client.update",
            "partner_client",
            client.client_id,
            {"before": before, "after": after},
        )
    print(json.dumps({"client_id": args.client_id, **after}))
    return 0


def cmd_clients_revoke(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.auth.clients import revoke_client

    with session_scope(settings) as session:
        revoked = revoke_client(session, args.client_id)
    print(json.dumps({"client_id": args.client_id, "revoked": revoked}))
    return 0 if revoked else 1


def cmd_keys_rotate(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.auth.tokens import rotate_signing_key
    from hub.crypto import token_key_box

    out: dict[str, Any] = {}
    if args.which in ("tokens", "all"):
        with session_scope(settings) as session:
            row = rotate_signing_key(session, token_key_box(settings))
            out["token_kid"] = row.kid
    if args.which in ("documents", "all"):
        from hub.certificates.keys import rotate_document_keys

        out["document_kid"] = rotate_document_keys(settings)
    print(json.dumps(out))
    return 0


def cmd_keys_init(settings: dict[str, Any], args: argparse.Namespace) -> int:
    """Make (development) or install (production PKCS#12) the document keys before any process starts."""
    from hub.certificates.keys import load_keyring

    keyring, created = load_keyring(settings)
    print(json.dumps({"document_kid": keyring.current.kid, "created": created}))
    return 0


def cmd_officers_create(settings: dict[str, Any], args: argparse.Namespace) -> int:
    import getpass
    import os

    from hub.console.officers import OfficerError, create_officer

    password = os.environ.get("HUB_OFFICER_PASSWORD") or getpass.getpass("password: ")
    try:
        with session_scope(settings) as session:
            officer = create_officer(
                session, args.username, args.name, password, args.role.split(), args.offices.split()
            )
            out = {"username": officer.username, "roles": officer.roles, "offices": officer.offices}
    except OfficerError as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub-admin", description="Operate a discom hub.")
    parser.add_argument("ini", help="the hub's ini file, e.g. development.ini")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="bring the database schema up to date (Alembic)")
    p.add_argument("--revision", default="heads")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("demo-data", help="fill the reference systems with generated consumers")
    p.add_argument("--consumers", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--replace", action="store_true", help="wipe the reference systems' data first")
    p.add_argument(
        "--contacts-extract",
        default=None,
        help="also write billing's contacts extract of the demo consumers to this CSV file "
        "(load it with `outages contacts`)",
    )
    p.add_argument(
        "--offices-extract",
        default=None,
        help="also write billing's extract of its offices to this CSV file (load it with `offices load`)",
    )
    p.set_defaults(func=cmd_demo_data)

    clients = sub.add_parser("clients", help="partner clients").add_subparsers(
        dest="clients_command", required=True
    )
    p = clients.add_parser("create", help="create a client; prints its id and secret once")
    p.add_argument("--name", required=True)
    p.add_argument("--scopes", required=True, help='space-separated, e.g. "certificates:verify dues:read"')
    p.add_argument("--purposes", default="", help="space-separated purposes (DBT schemes)")
    p.add_argument("--soap", action="store_true", help="also issue a WS-Security UsernameToken password")
    p.add_argument("--rate-per-minute", type=int, default=None)
    p.set_defaults(func=cmd_clients_create)
    p = clients.add_parser("list")
    p.set_defaults(func=cmd_clients_list)
    p = clients.add_parser("update", help="replace an existing client's scopes (and purposes)")
    p.add_argument("client_id")
    p.add_argument("--scopes", required=True, help="space-separated: the client's whole new set of scopes")
    p.add_argument("--purposes", default=None, help="space-separated purposes; left as they are if not given")
    p.set_defaults(func=cmd_clients_update)
    p = clients.add_parser("revoke")
    p.add_argument("client_id")
    p.set_defaults(func=cmd_clients_revoke)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("init", help="create or install the document keys once, before the processes start")
    p.set_defaults(func=cmd_keys_init)
    p = keys.add_parser("rotate", help="add a new signing key; older keys keep verifying")
    p.add_argument("--which", choices=("tokens", "documents", "all"), default="all")
    p.set_defaults(func=cmd_keys_rotate)

    officers = sub.add_parser("officers", help="officer accounts of the work queue").add_subparsers(
        dest="officers_command", required=True
    )
    p = officers.add_parser(
        "create", help="create an officer; the password is asked for (or HUB_OFFICER_PASSWORD)"
    )
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, help='space-separated roles, e.g. "dgm" or "gm"')
    p.add_argument(
        "--offices", required=True, help='space-separated office codes, e.g. "DIV-BPL-1 DIV-BPL-2"'
    )
    p.set_defaults(func=cmd_officers_create)
    offices = sub.add_parser(
        "offices", help="the office hierarchy officers' jurisdictions follow"
    ).add_subparsers(dest="offices_command", required=True)
    p = offices.add_parser("load", help="load billing's CSV extract of its offices: code,level,parent_code")
    p.add_argument("file")
    p.set_defaults(func=cmd_offices_load)

    register_more(sub)
    from hub.kyc.cli import register as register_kyc

    register_kyc(sub)
    from hub.bills.cli import register as register_bills

    register_bills(sub)

    from hub.meters.cli import register as register_meters

    register_meters(sub)
    from hub.energy.cli import register as register_energy
    from hub.network.cli import register as register_network

    register_network(sub)
    register_energy(sub)
    from hub.complaints.cli import register as register_complaints

    register_complaints(sub)
    from hub.chatbot.cli import register as register_chatbot

    register_chatbot(sub)
    from hub.whatsapp.cli import register as register_whatsapp

    register_whatsapp(sub)
    from hub.outages.cli import register as register_outages

    register_outages(sub)
    return parser


def cmd_audit_verify(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.audit import verify_chain

    anchor = (args.anchor_seq, args.anchor_hash) if args.anchor_seq is not None else None
    with session_scope(settings) as session:
        result = verify_chain(session, anchor)
    print(json.dumps(result.as_json()))
    return 0 if result.ok else 1


def cmd_outbox_list(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.outbox import list_messages

    with session_scope(settings) as session:
        for message in list_messages(session, args.status, args.limit):
            print(json.dumps(message.as_json(), ensure_ascii=False))
    return 0


def cmd_outbox_retry(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.outbox import OutboxError, OutboxQueue, retry

    try:
        with session_scope(settings) as session:
            out = retry(session, args.id).as_json()
    except OutboxError as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 1
    try:
        OutboxQueue.from_settings(settings).submit([args.id])
        out["queued"] = True
    except Exception as exc:  # the row is due now; the worker's sweep picks it up
        print(
            f"hub-admin: could not reach the queue ({type(exc).__name__}); the sweep will deliver it",
            file=sys.stderr,
        )
        out["queued"] = False
    print(json.dumps(out, ensure_ascii=False))
    return 0


def register_more(sub: Any) -> None:
    """Subcommands contributed by the outbox and audit modules."""
    audit = sub.add_parser("audit", help="the hash-chained audit log").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser("verify", help="check the whole chain; exit 1 and name the first bad row if broken")
    p.add_argument("--anchor-seq", type=int, default=None, help="a head seq printed by an earlier verify")
    p.add_argument("--anchor-hash", default="", help="its hash: catches deletion of the newest rows")
    p.set_defaults(func=cmd_audit_verify)

    outbox = sub.add_parser("outbox", help="side effects waiting for the worker").add_subparsers(
        dest="outbox_command", required=True
    )
    p = outbox.add_parser("list", help="messages, newest first, one JSON object per line")
    p.add_argument("--status", choices=("pending", "delivered", "parked"), default=None)
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_outbox_list)
    p = outbox.add_parser("retry", help="make a parked message due now with fresh attempts")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_outbox_retry)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hub.settings import ConfigurationError

    try:
        settings = load_settings(args.ini)
    except ConfigurationError as exc:
        print(f"hub-admin: {exc}", file=sys.stderr)
        return 2
    func: Command = args.func
    return func(settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
