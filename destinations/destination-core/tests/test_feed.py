"""A bulk statement fed while it runs: every part reaches it in order, and its failure reaches the feeding side."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from destination_core.feed import Feed


@pytest.fixture
def worker() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def test_every_part_reaches_the_load_in_order_on_its_thread(worker: ThreadPoolExecutor) -> None:
    taken: list[int] = []
    threads: set[int] = set()

    def load(parts: Iterator[int]) -> None:
        for part in parts:
            taken.append(part)
            threads.add(threading.get_ident())

    feed = Feed("t", worker, load, depth=2)
    _put_all(feed, range(50))  # more than `depth`: the feeding side waits for the load to take them
    feed.end()
    assert taken == list(range(50))
    assert threading.get_ident() not in threads


def test_a_load_that_fails_raises_its_error_on_the_feeding_side(worker: ThreadPoolExecutor) -> None:
    def load(parts: Iterator[int]) -> None:
        next(parts)
        raise ValueError("the database refused the rows")

    feed = Feed("t", worker, load, depth=1)
    with pytest.raises(ValueError, match="refused"):  # the load takes no more after the first part: the queue
        _put_all(feed, range(10))  # fills, and the feeding side must not wait forever
    with pytest.raises(ValueError, match="refused"):
        feed.end()


def test_the_next_part_after_a_failure_raises_it_with_room_to_spare(worker: ThreadPoolExecutor) -> None:
    def load(parts: Iterator[int]) -> None:
        next(parts)
        raise ValueError("the database refused the rows")

    feed = Feed("t", worker, load, depth=10)
    feed.put(0)
    worker.submit(lambda: None).result()  # the one worker thread is past the failed load
    with pytest.raises(ValueError, match="refused"):
        feed.put(1)


def test_a_load_that_stops_taking_parts_is_an_error(worker: ThreadPoolExecutor) -> None:
    def load(parts: Iterator[int]) -> None:
        next(parts)

    feed = Feed("t", worker, load, depth=4)
    _put_all(feed, range(3))
    with pytest.raises(RuntimeError, match="ended before its input did"):
        feed.end()


def _put_all(feed: Feed, parts: Iterable[int]) -> None:
    for part in parts:
        feed.put(part)
