import threading

import numpy as np
import pytest

from biofeedback.core.ringbuffer import RingBuffer


def test_write_and_read_since_returns_copies_with_absolute_index():
    rb = RingBuffer(10, (2,))
    rb.write(np.arange(8).reshape(4, 2))
    first, rows = rb.read_since(1)
    assert first == 1
    np.testing.assert_array_equal(rows[:, 0], [2, 4, 6])
    rows[:] = -1  # a copy: the buffer is untouched
    assert rb.read_since(1)[1][0, 0] == 2


def test_wraparound_keeps_newest_and_reports_oldest():
    rb = RingBuffer(5)
    for start in range(0, 12, 3):
        rb.write(np.arange(start, start + 3, dtype=float), first_index=start)
    assert rb.end_index == 12
    assert rb.oldest_index == 7
    first, rows = rb.read_since(0)
    assert first == 7
    np.testing.assert_array_equal(rows, [7, 8, 9, 10, 11])


def test_block_larger_than_capacity():
    rb = RingBuffer(4)
    rb.write(np.arange(10, dtype=float))
    assert rb.end_index == 10
    np.testing.assert_array_equal(rb.read_last(100)[1], [6, 7, 8, 9])


def test_independent_readers_count_losses():
    rb = RingBuffer(4)
    fast, slow = rb.reader(), rb.reader()
    rb.write(np.arange(3, dtype=float))
    assert fast.read()[1].tolist() == [0, 1, 2]
    rb.write(np.arange(3, 6, dtype=float))
    assert fast.read()[1].tolist() == [3, 4, 5]
    first, rows = slow.read()
    assert first == 2 and rows.tolist() == [2, 3, 4, 5]
    assert slow.lost == 2 and fast.lost == 0
    assert slow.available() == 0


def test_non_contiguous_write_is_rejected():
    rb = RingBuffer(4)
    rb.write(np.zeros(2), first_index=100)
    assert rb.end_index == 102
    with pytest.raises(ValueError, match="non-contiguous"):
        rb.write(np.zeros(2), first_index=105)


def test_structured_rows():
    dtype = np.dtype([("envelope", np.float64, (2,)), ("flags", np.uint16, (2,))])
    rb = RingBuffer(8, (), dtype)
    rows = np.zeros(3, dtype=dtype)
    rows["envelope"] = [[1, 2], [3, 4], [5, 6]]
    rb.write(rows)
    _, out = rb.read_last(2)
    np.testing.assert_array_equal(out["envelope"][:, 1], [4, 6])


def test_concurrent_writer_and_reader_see_every_sample_in_order():
    rb = RingBuffer(10_000)
    total = 200_000
    got: list[np.ndarray] = []

    def writer():
        for start in range(0, total, 100):
            rb.write(np.arange(start, start + 100, dtype=float))

    thread = threading.Thread(target=writer)
    reader = rb.reader()
    thread.start()
    while thread.is_alive() or reader.available():
        got.append(reader.read()[1])
    thread.join()
    data = np.concatenate(got)
    # Whatever the reader got is in order and contiguous except where it fell behind.
    assert len(data) + reader.lost == total
    assert np.all(np.diff(data) >= 1)
