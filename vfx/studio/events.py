"""The event bus: reload and render notifications from worker threads to the page's event streams."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any


class EventBus:
    """Fan out ``(kind, data)`` events to every subscribed stream; ``publish`` is safe from any thread.

    Each subscriber is an ``asyncio.Queue`` on the server's loop, bounded: a page that stops
    reading loses old events, never the server's memory.
    """

    def __init__(self, depth: int = 256):
        self.depth = depth
        self._subscribers: set[asyncio.Queue] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.closed = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the subscribers' queues live on (the server's)."""
        self._loop = loop

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.depth)
        with self._lock:
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers.discard(q)

    def publish(self, kind: str, data: Any) -> None:
        """Send one event to every subscriber (dropped when no loop is attached yet)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        message = (kind, json.dumps(data, default=str))
        with self._lock:
            queues = list(self._subscribers)
        for q in queues:
            try:
                loop.call_soon_threadsafe(_offer, q, message)
            except RuntimeError:  # the loop closed meanwhile
                return

    def close(self) -> None:
        """Wake every stream so it can end (the server is stopping)."""
        self.closed = True
        self.publish("bye", {})


def _offer(q: asyncio.Queue, message) -> None:
    if q.full():
        try:
            q.get_nowait()
        except asyncio.QueueEmpty:
            pass
    q.put_nowait(message)


def sse(kind: str, data: str) -> bytes:
    """One server-sent event."""
    return f"event: {kind}\ndata: {data}\n\n".encode()
