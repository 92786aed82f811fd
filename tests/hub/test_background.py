"""hub.background.ProcessThread: once per process, again in a forked child."""

from __future__ import annotations

import os
import threading

from hub.background import ProcessThread


def _counting() -> tuple[ProcessThread, list[str], threading.Event]:
    ran: list[str] = []
    done = threading.Event()

    def target() -> None:
        ran.append(threading.current_thread().name)
        done.set()

    return ProcessThread(target, "test-background", on_start=lambda: ran.append("on_start")), ran, done


def test_started_once_however_often_asked() -> None:
    thread, ran, done = _counting()
    for _ in range(5):
        thread.start()
    assert done.wait(5)
    assert ran == ["on_start", "test-background"]


def test_forget_lets_it_start_again() -> None:
    thread, ran, done = _counting()
    thread.start()
    assert done.wait(5)
    done.clear()
    thread.forget()
    thread.start()
    assert done.wait(5)
    assert ran.count("test-background") == 2


def test_a_forked_child_starts_its_own() -> None:
    thread, _ran, done = _counting()
    thread.start()
    assert done.wait(5)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here; start() must start one
        try:
            done.clear()
            thread.start()
            os.write(write_end, b"1" if done.wait(5) else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 1) == b"1"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
