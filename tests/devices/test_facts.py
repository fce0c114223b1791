"""Device facts: every registered source class says whether it is on a body, which options it
takes, its board and a label; the window asks these instead of parsing URLs."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import pytest

from biofeedback.core.hardware import BOARDS
from biofeedback.devices import facts
from biofeedback.devices.facts import (
    SourceFacts,
    board_choices,
    describe_source,
    needs_checklist,
    source_facts,
    with_setup,
)
from biofeedback.devices.registry import SCHEMES, device_class, open_device, parse_source_url
from biofeedback.devices.source_url import SourceURL

#: (url, on_body, takes_setup, board, adc_bits, label) -- at least one per registered scheme.
CASES = [
    ("sim://?scenario=relax", False, True, "uno", 10, "simulated sensor (relax)"),
    ("sim://relax?board=12bit&bits=14", False, True, "12bit", 14, "simulated sensor (relax)"),
    ("sim://", False, True, "uno", 10, "simulated sensor (steady)"),
    ("serial:///dev/ttyACM0", True, False, None, None, "/dev/ttyACM0"),
    ("serial:///dev/ttyUSB0?format=text", True, True, "uno", 10, "/dev/ttyUSB0"),
    ("serial:///dev/ttyUSB0?format=text&board=uno-r4", True, True, "uno-r4", 14, "/dev/ttyUSB0"),
    ("serial:///dev/ttyACM0?format=chords", True, False, None, None, "/dev/ttyACM0"),
    ("replay://12", False, False, None, None, "replay 12"),
    ("replay:///tmp/rec.csv?fs=1000&units=mV", False, False, None, None, "replay rec.csv"),
    ("lsl://?name=Chords&units=uV", True, False, None, None, "LSL stream Chords"),
    ("lsl://?type=EMG", True, False, None, None, "LSL stream EMG"),
    ("lsl://", True, False, None, None, "LSL stream EMG"),
    ("brainflow://synthetic", False, False, None, None, "BrainFlow synthetic"),
    ("brainflow://Synthetic_Board", False, False, None, None, "BrainFlow Synthetic_Board"),
    ("brainflow://-1?channels=1", False, False, None, None, "BrainFlow -1"),
    ("brainflow://cyton?serial_port=/dev/ttyUSB0", True, False, None, None, "BrainFlow cyton"),
    ("auto", True, False, None, None, "first board found (auto)"),
]


@pytest.mark.parametrize(("url", "on_body", "takes_setup", "board", "bits", "label"), CASES)
def test_facts_of_each_source(url, on_body, takes_setup, board, bits, label):
    got = source_facts(url)
    assert (got.on_body, got.takes_setup, got.board, got.adc_bits, got.label) == (
        on_body,
        takes_setup,
        board,
        bits,
        label,
    )
    assert needs_checklist(url) is on_body
    assert describe_source(url) == label
    assert got.url == url


def test_every_registered_scheme_has_facts():
    covered = {source_facts(url).scheme for url, *_ in CASES}
    assert covered == {*SCHEMES, "auto"}
    for scheme in SCHEMES:
        cls = device_class(scheme)
        assert cls.scheme == scheme
        assert cls.kind_label != "source", f"{cls.__name__} names its kind"
        assert cls.url_options, f"{cls.__name__} lists its URL options"


@pytest.mark.parametrize("url", ["", "nonsense", "ftp://host/x", "sim://?bits=x&bits=y", "x" * 80])
def test_a_url_that_cannot_be_read_gets_the_cautious_answer(url):
    got = source_facts(url)
    assert got.on_body  # unknown: checklist first
    assert (got.scheme, got.takes_setup) == ("", False)
    assert len(got.label) <= facts.MAX_UNKNOWN_LABEL


def test_a_simulator_with_an_unknown_board_is_still_not_on_a_body():
    got = source_facts("sim://?board=nope")
    assert (got.on_body, got.board, got.adc_bits) == (False, None, None)


# ---- each class's options are the ones its from_url reads ----


@dataclass
class RecordingURL(SourceURL):
    """A SourceURL that notes every option a device class asks for."""

    read: set[str] = field(default_factory=set)

    def _take(self, key: str) -> str | None:
        self.read.add(key)
        return super()._take(key)


#: URLs whose from_url together read every option of the class (brainflow needs BrainFlow).
READ_ALL = {
    "sim": ["sim://?scenario=tense-release"],
    "serial": ["serial:///dev/ttyACM0", "serial:///dev/ttyACM0?format=text"],
    "replay": ["replay://12", "replay:///tmp/x.csv"],
    "lsl": ["lsl://?type=EMG"],
    "brainflow": ["brainflow://synthetic"],
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_url_options_are_the_ones_from_url_reads(scheme):
    if scheme == "brainflow" and importlib.util.find_spec("brainflow") is None:
        pytest.skip("BrainFlow is not installed")
    read: set[str] = set()
    listed: set[str] = set()
    for url in READ_ALL[scheme]:
        parsed = parse_source_url(url)
        recorder = RecordingURL(parsed.text, parsed.scheme, parsed.path, dict(parsed.params))
        device_class(scheme).from_url(recorder)
        read |= recorder.read
        listed |= set(source_facts(url).options)
    assert read == listed


def test_a_scenario_adds_its_own_options():
    relax = set(source_facts("sim://?scenario=relax").options)
    tense = set(source_facts("sim://?scenario=tense-release").options)
    assert {"tense_uv", "cycles"} <= tense - relax


# ---- facts of a device object ----


def test_an_open_device_adds_the_board_it_reports():
    device = open_device("sim://?scenario=steady&board=uno-r4&bits=12&speed=max")
    before = source_facts(device)
    assert (before.board, before.adc_bits, before.on_body) == ("uno-r4", 12, False)
    device.open()
    after = source_facts(device)
    assert (after.board, after.adc_bits) == ("uno-r4", 12)
    assert after.board_label == BOARDS["uno-r4"].label


def test_a_device_made_in_code_answers_from_its_class():
    from biofeedback.devices.serial_device import SerialDevice

    device = SerialDevice("/dev/ttyACM9")
    got = source_facts(device)
    assert isinstance(got, SourceFacts)
    assert (got.scheme, got.on_body, got.takes_setup) == ("serial", True, False)


# ---- with_setup ----


@pytest.mark.parametrize(
    ("url", "board", "bits", "expected"),
    [
        ("sim://?scenario=relax", "12bit", 0, "sim://?scenario=relax&board=12bit"),
        ("sim://?scenario=relax&board=12bit", "uno", 0, "sim://?scenario=relax&board=uno"),
        ("sim://?scenario=relax", "uno", 12, "sim://?scenario=relax&board=uno&bits=12"),
        ("sim://?board=uno&bits=12&seed=3", "uno", 14, "sim://?seed=3&board=uno&bits=14"),
        ("sim://?board=uno&bits=12", "uno", 0, "sim://?board=uno"),
        ("sim://?board=uno", "12bit", 12, "sim://?board=12bit"),
        ("sim://?board=uno", "uno-r4", 10, "sim://?board=uno-r4&bits=10"),
        ("sim://?board=uno&bits=x", "uno", 0, "sim://?board=uno"),
        (
            "serial:///dev/ttyUSB0?format=text",
            "uno-r4",
            0,
            "serial:///dev/ttyUSB0?format=text&board=uno-r4",
        ),
    ],
)
def test_with_setup_rewrites_board_and_bits(url, board, bits, expected):
    assert with_setup(url, board, bits) == expected


@pytest.mark.parametrize(
    ("url", "board", "bits"),
    [
        ("sim://?scenario=relax&board=12bit", "12bit", 0),
        ("sim://?scenario=relax&board=12bit", "12bit", 12),
        ("sim://?scenario=relax", "uno", 0),
        ("sim://?board=uno&bits=14", "uno", 14),
        ("serial:///dev/ttyUSB0?format=text", "uno", 10),
    ],
)
def test_with_setup_keeps_a_url_that_already_matches(url, board, bits):
    assert with_setup(url, board, bits) == url


@pytest.mark.parametrize(
    "url",
    [
        "serial:///dev/ttyACM0",
        "serial:///dev/ttyACM0?format=binary&board=uno",
        "replay://12",
        "lsl://?type=EMG",
        "brainflow://synthetic",
        "auto",
        "nonsense",
    ],
)
def test_with_setup_is_none_for_sources_that_report_their_adc(url):
    assert with_setup(url, "uno", 12) is None


def test_with_setup_refuses_an_unknown_board():
    with pytest.raises(ValueError, match="unknown board"):
        with_setup("sim://", "mega", 0)


def test_rewritten_urls_open_with_the_chosen_adc():
    url = with_setup("sim://?scenario=steady&speed=max", "uno-r4", 12)
    assert url is not None
    info = open_device(url).open()
    assert (info.board, info.adc_bits, info.vref_v) == ("uno-r4", 12, 5.0)


# ---- boards ----


def test_board_choices_cover_every_board_with_a_short_and_a_full_label():
    choices = board_choices()
    assert [c.key for c in choices] == list(BOARDS)
    for choice in choices:
        assert choice.label == BOARDS[choice.key].label
        assert choice.adc_bits == BOARDS[choice.key].adc_bits
        assert len(choice.short_label) <= 28
        assert len(choice.short_label) < len(choice.label)
    assert len({c.short_label for c in choices}) == len(choices)


def test_the_default_and_example_sources_open():
    for url in (facts.DEFAULT_SIM_SOURCE, *facts.EXAMPLE_SOURCES):
        assert source_facts(url).scheme in {*SCHEMES, "auto"}, url
    assert not needs_checklist(facts.DEFAULT_SIM_SOURCE)
