"""``prefetch``: a generator run one step ahead in a thread, with its errors and its end."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from customer_flow.data.prefetch import prefetch


def test_yields_every_item_in_order_from_another_thread() -> None:
    threads: list[str] = []

    def items() -> Iterator[int]:
        for i in range(50):
            threads.append(threading.current_thread().name)
            yield i

    with prefetch(items(), depth=2) as got:
        assert list(got) == list(range(50))
    assert set(threads) == {"customer-flow-prefetch"}


def test_an_error_in_the_worker_is_raised_to_the_reader_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad row 3")

    seen: list[int] = []
    with pytest.raises(ValueError, match="bad row 3"), prefetch(items()) as got:
        seen.extend(got)
    assert seen == [1, 2]


def test_leaving_early_stops_the_worker_and_closes_the_generator() -> None:
    closed = threading.Event()
    made: list[int] = []

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                made.append(i)
                yield i
        finally:
            closed.set()

    with prefetch(items(), depth=1) as got:
        for i in got:
            if i == 3:
                break
    assert closed.is_set()  # the block waited for the worker, which closed the generator
    assert len(made) < 10  # it ran at most a few items ahead, not to the end
