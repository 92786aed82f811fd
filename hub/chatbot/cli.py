"""``hub-admin <ini> chatbot ...``: a number's conversation as the chatbot remembers it, and ending it.

``show`` prints the language, step and last activity (never an OTP challenge or a connection
opened by one: the operator sees how many, not which). ``end`` ends a number's conversation
now (the consumer asked, or a number was reassigned): its step and the connections opened by
OTP are forgotten; the language stays unless ``--forget-language``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_chatbot_show(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.models.chatbot import ChatConversation

    with session_scope(settings) as session:
        row = session.get(ChatConversation, args.wa_id)
        if row is None:
            print(json.dumps({"wa_id": args.wa_id, "conversation": None}))
            return 1
        print(
            json.dumps(
                {
                    "wa_id": row.wa_id,
                    "language": row.language,
                    "language_chosen": row.language_chosen,
                    "step": row.step,
                    "connections_opened_by_otp": len(row.data.get("verified", [])),
                    "last_sent_at": row.last_sent_at.isoformat() if row.last_sent_at else None,
                    "last_active_at": row.last_active_at.isoformat(),
                },
                ensure_ascii=False,
            )
        )
    return 0


def cmd_chatbot_end(settings: dict[str, Any], args: argparse.Namespace) -> int:
    from hub.commands import session_scope
    from hub.models.chatbot import ChatConversation

    with session_scope(settings) as session:
        row = session.get(ChatConversation, args.wa_id, with_for_update=True)
        if row is None:
            print(json.dumps({"wa_id": args.wa_id, "ended": False}))
            return 1
        row.step = "ended"
        row.data = {}
        if args.forget_language:
            row.language, row.language_chosen = "en", False
    print(json.dumps({"wa_id": args.wa_id, "ended": True}))
    return 0


def register(sub: Any) -> None:
    chatbot = sub.add_parser("chatbot", help="the WhatsApp chatbot's conversations").add_subparsers(
        dest="chatbot_command", required=True
    )
    p = chatbot.add_parser("show", help="a WhatsApp number's conversation, as JSON")
    p.add_argument("wa_id", help="the number as WhatsApp gives it: 91 and ten digits")
    p.set_defaults(func=cmd_chatbot_show)
    p = chatbot.add_parser("end", help="end a WhatsApp number's conversation now")
    p.add_argument("wa_id")
    p.add_argument("--forget-language", action="store_true")
    p.set_defaults(func=cmd_chatbot_end)
