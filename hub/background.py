"""Threads a web process runs beside its requests: the registry replica's follower, the
verification journal's writer, the access log's writer.

Each starts on first need, not at import: a server that loads the app and then forks its
workers would otherwise leave the thread in the parent only. Fork copies a started flag but
not the thread, so the flag is cleared in the child (``os.register_at_fork``) and the child
starts its own on first need; the request path only reads a boolean, where comparing
``os.getpid()`` on every call cost a system call each.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable


class ProcessThread:
    """A daemon thread running ``target``, started at most once per process by :meth:`start`."""

    def __init__(
        self, target: Callable[[], None], name: str, on_start: Callable[[], None] | None = None
    ) -> None:
        self._target = target
        self._name = name
        # Runs under the start lock just before the thread starts (per-process state to renew).
        self._on_start = on_start
        self._started = False
        self._lock = threading.Lock()
        this = weakref.ref(self)

        def after_fork_in_child() -> None:
            alive = this()
            if alive is not None:
                # Another thread may have held the lock at the fork: the child gets a new one.
                alive._lock = threading.Lock()
                alive._started = False

        os.register_at_fork(after_in_child=after_fork_in_child)

    def start(self) -> None:
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            self._started = True
            if self._on_start is not None:
                self._on_start()
            threading.Thread(target=self._target, name=self._name, daemon=True).start()

    def forget(self) -> None:
        """Start again on the next :meth:`start` (the thread was told to stop)."""
        with self._lock:
            self._started = False
