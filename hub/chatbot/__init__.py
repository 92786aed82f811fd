"""The WhatsApp chatbot: complaints, complaint status, the bill, the payment receipt, applications.

``config.include("hub.chatbot")`` (after hub.complaints, hub.bills, hub.nodues and
hub.connections) registers :class:`~hub.chatbot.service.ChatbotService` and the periodic job
forgetting old message ids. The WhatsApp channel's worker calls, for each stored inbound
message::

    hub.chatbot.converse(registry, incoming, session=None, now=None) -> list[Reply]

``registry`` is the Pyramid registry (or anything :func:`hub.lookup.process_service` reads),
``incoming`` a :class:`connectors.whatsapp.messages.Incoming`. Without ``session`` the call
is its own transaction, committed when it returns; with one, the caller commits. The channel
sends the returned :class:`~connectors.whatsapp.messages.Reply` objects in order; a
``DocumentRef`` of kind ``bill`` is keyed by the consumer number (the current bill), one of
kind ``receipt`` by the signed receipt's document number. An empty list means: say nothing
(a repeated or stale delivery, a reaction, a flood). See docs/chatbot.md.
"""

from __future__ import annotations

from datetime import timedelta

from pyramid.config import Configurator

from hub.chatbot.service import ChatbotService, ChatbotSettings, converse

__all__ = ["ChatbotService", "ChatbotSettings", "converse", "includeme"]

SEEN_JOB = "chatbot.forget_seen"
SEEN_INTERVAL_SECONDS = 3600.0


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    service = ChatbotService(
        config.registry,
        ChatbotSettings(
            idle=timedelta(minutes=int(settings["hub.chatbot.idle_minutes"])),
            messages_per_minute=int(settings["hub.chatbot.messages_per_minute"]),
            seen_for=timedelta(days=int(settings["hub.chatbot.seen_days"])),
        ),
    )
    config.register_service(service, ChatbotService)
    config.add_periodic_job(SEEN_JOB, SEEN_INTERVAL_SECONDS, service.forget_seen)  # type: ignore[attr-defined]
