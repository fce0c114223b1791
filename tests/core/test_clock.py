import threading

from biofeedback.core.clock import FakeClock, MonotonicClock, Pacer


def test_fake_clock_sleeps_instantly_and_advances():
    clock = FakeClock(10.0)
    assert clock.sleep_until(12.5)
    assert clock.now() == 12.5
    clock.advance(0.5)
    assert clock.now() == 13.0


def test_fake_clock_respects_stop_event():
    stop = threading.Event()
    stop.set()
    assert not FakeClock().sleep_until(5.0, stop)


def test_pacer_has_no_drift_over_many_blocks():
    clock = FakeClock()
    pacer = Pacer(1000.0, clock)
    pacer.start(0)
    for end in range(10, 1_000_001, 10):  # 100,000 blocks of 10 samples = 1000 s
        pacer.wait_for(end)
    assert clock.now() == 1000.0  # exact: deadlines are computed, never accumulated
    assert pacer.due_index() == 1_000_000


def test_monotonic_clock_stop_wakes_early():
    clock = MonotonicClock()
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    t0 = clock.now()
    assert clock.sleep_until(t0 + 60.0, stop) is False
    assert clock.now() - t0 < 20.0  # woke on the stop, not at the deadline (busy machine: wide)
