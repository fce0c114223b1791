"""Protocol files have limits (size, nesting, phases, total length), each named in its message."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from biofeedback.cli import main
from biofeedback.errors import ProtocolFileError
from biofeedback.training.protocol import (
    MAX_NESTING_DEPTH,
    MAX_PHASES,
    MAX_PROTOCOL_FILE_BYTES,
    MAX_PROTOCOL_S,
    load_protocol_file,
    parse_protocol,
)

HEAD = 'name = "limits"\n'
REST = '[[phases]]\nkind = "rest"\nduration = "{d}"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def validate(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    """`protocols validate`: exit 2 with one line, no traceback; returns the line."""
    code = main(["protocols", "validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    return err


@pytest.mark.parametrize(
    "value",
    [
        "[" * 5000 + "]" * 5000,  # lists in lists: RecursionError in tomllib
        "{a=" * 5000 + "1" + "}" * 5000,  # inline tables in tables
    ],
    ids=["lists", "inline-tables"],
)
def test_deeply_nested_toml_is_a_protocol_error_not_a_recursion_error(tmp_path, capsys, value):
    err = validate(capsys, write(tmp_path, HEAD + f"x = {value}\n"))
    assert f"{MAX_NESTING_DEPTH} levels" in err


def test_nesting_just_over_the_limit_without_recursion_trouble_is_refused():
    dotted = ".".join(["a"] * (MAX_NESTING_DEPTH + 1))
    with pytest.raises(ProtocolFileError, match=f"{MAX_NESTING_DEPTH} levels"):
        parse_protocol(HEAD + f"{dotted} = 1\n", "p.toml")


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path, capsys):
    # Not valid TOML at all: the size check must come first, or the message would be a syntax error.
    path = write(tmp_path, "x" * (MAX_PROTOCOL_FILE_BYTES + 1))
    err = validate(capsys, path)
    assert f"{MAX_PROTOCOL_FILE_BYTES // 1024} KiB" in err


def test_a_file_at_the_size_limit_is_read(tmp_path):
    text = HEAD + REST.format(d="1 min")
    path = write(tmp_path, text + "#" * (MAX_PROTOCOL_FILE_BYTES - len(text)))
    assert len(load_protocol_file(path).phases) == 1


def test_a_million_phases_are_refused_fast_naming_the_limit(tmp_path, capsys):
    # 9 500 phases in a block repeated 100 times: ~10^6 phases once expanded.
    inner = '{kind="rest",duration=1},' * 9_500
    path = write(tmp_path, HEAD + f"phases = [{{repeat=100,block=[{inner}]}}]\n")
    assert path.stat().st_size <= MAX_PROTOCOL_FILE_BYTES
    t0 = time.monotonic()
    err = validate(capsys, path)
    assert time.monotonic() - t0 < 20  # was 46 s and 805 MB
    assert f"more than {MAX_PHASES} phases" in err


def test_repeated_phases_over_the_limit_are_refused(capsys, tmp_path):
    text = HEAD + (REST.format(d="1 s") + "repeat = 100\n") * 6
    assert f"more than {MAX_PHASES} phases" in validate(capsys, write(tmp_path, text))


def test_exactly_the_phase_limit_is_accepted(tmp_path):
    text = HEAD + (REST.format(d="1 s") + "repeat = 100\n") * (MAX_PHASES // 100)
    assert len(load_protocol_file(write(tmp_path, text)).phases) == MAX_PHASES


def test_total_duration_over_the_limit_is_refused(capsys, tmp_path):
    hours = int(MAX_PROTOCOL_S // 3600)
    text = HEAD + (REST.format(d="120 min")) * (hours // 2 + 1)
    assert f"limit for a protocol is {hours} h" in validate(capsys, write(tmp_path, text))


def test_total_duration_at_the_limit_is_accepted(tmp_path):
    hours = int(MAX_PROTOCOL_S // 3600)
    text = HEAD + REST.format(d="120 min") * (hours // 2)
    assert load_protocol_file(write(tmp_path, text)).duration_s == MAX_PROTOCOL_S
