"""One bulk statement fed while it runs: the parsing thread hands it parts, the load thread's statement takes them."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_END = object()
_POLL_SECONDS = 0.05


class Feed:
    """The parts of one bulk statement (an INSERT from an Arrow stream, a COPY), run by `load` on `worker` while
    the parts are still coming. At most `depth` parts wait for it, so that memory stays bounded.

    `key` says what the statement loads into: a part for another key needs a statement of its own.
    """

    def __init__(
        self, key: Any, worker: ThreadPoolExecutor, load: Callable[[Iterator[Any]], None], depth: int = 2
    ) -> None:
        self.key = key
        self._parts: queue.Queue[Any] = queue.Queue(depth)
        self._running = worker.submit(load, self._take())

    def _take(self) -> Iterator[Any]:
        while (part := self._parts.get()) is not _END:
            yield part

    def put(self, part: Any) -> None:
        """Hand on `part`. Raises the statement's error if it failed: it then takes no more."""
        while True:
            if self._running.done():
                self._running.result()
                raise RuntimeError("a bulk load ended before its input did")
            try:
                self._parts.put(part, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                pass

    def end(self) -> None:
        """No more parts: wait for the statement to finish, raising its error."""
        if not self._running.done():
            self.put(_END)
        self._running.result()
        if not self._parts.empty():  # it ended early, without taking every part
            raise RuntimeError("a bulk load ended before its input did")
