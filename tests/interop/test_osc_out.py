"""OSC out: a python-osc server receives the envelope, the target, below/above and markers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer

from biofeedback.engine import Engine
from biofeedback.errors import SourceURLError
from biofeedback.interop.osc import check_rate, parse_target
from biofeedback.interop.streaming import Streaming, StreamingOptions


class Listener:
    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple[object, ...]]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.append((address, args)))
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, address: str) -> list[tuple[object, ...]]:
        return [args for a, args in list(self.messages) if a == address]


@pytest.fixture
def listener() -> Iterator[Listener]:
    got = Listener()
    yield got
    got.server.shutdown()
    got.server.server_close()


def test_a_python_osc_server_receives_envelope_threshold_below_and_markers(
    listener: Listener, wait_for: Callable[..., None]
) -> None:
    engine = Engine("sim://?scenario=relax&seed=5&speed=5")
    engine.open()
    assert engine.pipeline is not None
    n = len(engine.pipeline.outputs)
    target = parse_target(f"127.0.0.1:{listener.port}")
    streaming = Streaming(StreamingOptions(osc=target, osc_rate_hz=50.0))
    streaming.attach(engine)
    streaming.set_threshold(1000.0)  # far above a relaxed muscle: below on every channel
    try:
        engine.start(max_samples=round(3 * engine.info.fs_hz))  # type: ignore[union-attr]
        wait_for(lambda: len(listener.of("/biofeedback/below")) >= 5, 20, "no below messages")
        streaming.marker("marker: hello")
        wait_for(lambda: listener.of("/biofeedback/marker"), 10, "no marker message")
        assert engine.wait(20)
    finally:
        streaming.close()
        engine.close()
    envelope = listener.of("/biofeedback/envelope")
    assert len(envelope) >= 5
    assert all(len(args) == n and all(isinstance(v, float) for v in args) for args in envelope)
    assert all(args == (1000.0,) * n for args in listener.of("/biofeedback/threshold"))
    assert all(args == (1,) * n for args in listener.of("/biofeedback/below"))
    assert ("threshold: 1000.00 uV",) in listener.of("/biofeedback/marker")
    assert ("marker: hello",) in listener.of("/biofeedback/marker")
    # the rate: 0.6 s of wall time at 50 Hz gives about 30 envelope messages, never one per block
    assert streaming.stats()["osc"]["messages"] >= len(envelope)


def test_without_a_target_only_the_envelope_is_sent(
    listener: Listener, wait_for: Callable[..., None]
) -> None:
    engine = Engine("sim://?scenario=relax&seed=5&speed=5")
    engine.open()
    streaming = Streaming(StreamingOptions(osc=parse_target(f"localhost:{listener.port}")))
    streaming.attach(engine)
    try:
        engine.start(max_samples=2000)
        wait_for(lambda: len(listener.of("/biofeedback/envelope")) >= 3, 20, "no envelope")
        assert engine.wait(20)
    finally:
        streaming.close()
        engine.close()
    assert listener.of("/biofeedback/threshold") == [] and listener.of("/biofeedback/below") == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("127.0.0.1", "give HOST:PORT"),
        (":9000", "give HOST:PORT"),
        ("127.0.0.1:", "give HOST:PORT"),
        ("127.0.0.1:70000", "from 1 to 65535"),
        ("127.0.0.1:port", "from 1 to 65535"),
        ("no-such-host.invalid:9000", "cannot find the host"),
    ],
)
def test_bad_targets_are_refused_in_one_line(text: str, problem: str) -> None:
    with pytest.raises(SourceURLError, match=problem):
        parse_target(text)


def test_targets_and_rates_that_are_fine() -> None:
    assert str(parse_target("127.0.0.1:9000")) == "127.0.0.1:9000"
    assert parse_target("[::1]:9001").port == 9001
    assert check_rate(1) == 1.0 and check_rate(200) == 200.0
    for bad in (0.5, 201, float("nan")):
        with pytest.raises(SourceURLError, match="--osc-rate"):
            check_rate(bad)
