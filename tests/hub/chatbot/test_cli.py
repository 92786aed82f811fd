"""``hub-admin <ini> chatbot ...`` as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.demo import PERSONAS
from hub.cli import main
from tests.hub.chatbot.chat import said
from tests.hub.chatbot.conftest import Bot, wa


def test_show_and_end_a_conversation(
    bot: Bot, live_database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = bot.chat(wa("clean"))
    chat.say("हिंदी")
    chat.say("bill")
    chat.tap("conn:other")
    chat.say(PERSONAS["dues"].consumer_numbers[0])
    chat.say(bot.otp_sent_to(PERSONAS["dues"].mobile))
    ini = tmp_path / "admin.ini"
    ini.write_text(
        "[app:main]\nuse = egg:discom-hub\n"
        f"hub.database_url = {live_database_url.replace('%', '%%')}\nhub.secret_key = test-secret-key\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main([str(ini), "chatbot", "show", wa("clean")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["language"] == "hi" and shown["step"] == "menu"
    assert shown["connections_opened_by_otp"] == 1
    assert PERSONAS["dues"].consumer_numbers[0] not in json.dumps(shown)

    assert main([str(ini), "chatbot", "end", wa("clean")]) == 0
    assert json.loads(capsys.readouterr().out) == {"wa_id": wa("clean"), "ended": True}
    assert bot.conversation(wa("clean")).data == {}
    chat.say("menu")
    assert "स्वागत" in said(chat.last)  # the language is kept

    assert main([str(ini), "chatbot", "show", "919000000000"]) == 1
    assert main([str(ini), "chatbot", "end", "919000000000"]) == 1
