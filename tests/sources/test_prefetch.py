import threading

import pytest

from engage.sources.prefetch import prefetch


def test_items_arrive_in_order_from_another_thread():
    producers = []

    def numbers():
        producers.append(threading.current_thread().name)
        yield from range(100)

    assert list(prefetch(numbers(), depth=3)) == list(range(100))
    assert producers == ["engage-prefetch"]


def test_producer_errors_surface_after_the_items_before_them():
    def failing():
        yield 1
        yield 2
        raise ValueError("broken at 3")

    seen = []
    with pytest.raises(ValueError, match="broken at 3"):
        for item in prefetch(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_closes_the_source_and_bounds_read_ahead():
    produced = []
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield i
                i += 1
        finally:
            closed.set()

    for item in prefetch(endless(), depth=2):
        if item == 5:
            break
    assert closed.wait(2)
    assert len(produced) <= 5 + 1 + 2 + 1  # consumed, the one in hand, the queue, one in flight
