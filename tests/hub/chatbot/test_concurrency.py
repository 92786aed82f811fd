"""Two workers at once: the same delivery twice, and two first messages of a new number."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.whatsapp.messages import Reply
from hub.chatbot import converse
from hub.models import ChatConversation
from hub.models.meta import utcnow
from tests.hub.chatbot.chat import incoming
from tests.hub.chatbot.conftest import Bot, wa


def _together(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_the_same_message_delivered_to_two_workers_is_answered_once(bot: Bot) -> None:
    message = incoming(wa("clean"), "hello")
    answers: list[list[Reply]] = _together(*(lambda: converse(bot.registry, message) for _ in range(2)))
    assert sorted(len(a) for a in answers)[0] == 0
    assert sum(1 for a in answers if a) == 1


def test_two_first_messages_at_once_make_one_conversation(bot: Bot) -> None:
    now = utcnow()
    first, second = incoming(wa("dues"), "hello", sent_at=now), incoming(wa("dues"), "menu", sent_at=now)
    answers = _together(lambda: converse(bot.registry, first), lambda: converse(bot.registry, second))
    assert all(answers)
    with Session(bot.engine) as session:
        rows = session.execute(
            select(func.count()).select_from(ChatConversation).where(ChatConversation.wa_id == wa("dues"))
        ).scalar_one()
    assert rows == 1
