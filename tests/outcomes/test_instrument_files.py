"""Malformed instrument files: one precise message (file, entry, what is allowed), worded as for
protocol files because both go through biofeedback.core.tomlfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from biofeedback.errors import InstrumentFileError, ProtocolFileError
from biofeedback.outcomes import load_instrument, load_instrument_file, parse_instrument
from biofeedback.outcomes.instrument import (
    MAX_INSTRUMENT_FILE_BYTES,
    MAX_ITEMS,
    MAX_NESTING_DEPTH,
)
from biofeedback.training.protocol import load_protocol_file

BROKEN = Path(__file__).parent / "broken"

EXPECTED = {
    "misspelt_key.toml": "misspelt_key.toml: item 1 'q1': unknown key 'anchor' (did you mean "
    "'anchors'?); allowed keys: id, text, response, min, max, step, anchors, choices, reverse, "
    "subscale, ask_if, help",
    "max_below_min.toml": "max_below_min.toml: item 1 'q1': max 0 must be above min 10",
    "unknown_method.toml": "unknown_method.toml: score 1 't': method 'median' is not allowed: "
    "use sum, mean or percent",
    "unknown_item_in_score.toml": "unknown_item_in_score.toml: score 1 't': items names 'q2', "
    "which is not an item id",
    "threshold_without_source.toml": "threshold_without_source.toml: score 1 't': change: source "
    "is missing: cite where the thresholds come from",
    "duplicate_choice.toml": "duplicate_choice.toml: item 1 'q1': choice 2: value 1 is used twice",
    "duplicate_item.toml": "duplicate_item.toml: item 2 'q1': id 'q1' is used by an earlier item: "
    "ids must be unique",
    "too_many_missing.toml": "too_many_missing.toml: score 1 't': max_missing 1 must be a whole "
    "number from 0 to 0",
    "bad_placeholder.toml": "bad_placeholder.toml: item 1 'q1': text refers to {act}, which is not "
    "an earlier free-text item",
    "bad_id.toml": "bad_id.toml: id 'Pain NRS' must be 1-64 lower-case letters, digits, '-' or "
    "'_' (e.g. id = \"pain-nrs\")",
    "latin1.toml": "latin1.toml: not UTF-8 text: save the file as UTF-8",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_file_gets_its_precise_message(name: str) -> None:
    with pytest.raises(InstrumentFileError) as exc:
        load_instrument_file(BROKEN / name)
    assert str(exc.value) == EXPECTED[name]


def test_every_broken_file_is_tested() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.toml")) == sorted(EXPECTED)


def _both(tmp_path: Path, data: bytes) -> tuple[str, str]:
    """The message for the same bytes read as a protocol and as an instrument (file name cut)."""
    path = tmp_path / "same.toml"
    path.write_bytes(data)
    with pytest.raises(ProtocolFileError) as protocol:
        load_protocol_file(path)
    with pytest.raises(InstrumentFileError) as instrument:
        load_instrument_file(path)
    return str(protocol.value), str(instrument.value)


@pytest.mark.parametrize(
    "data",
    [b"name = \xff\n", b'name = "x\n', b"a = " + b"[" * 12 + b"]" * 12 + b"\n"],
    ids=["not-utf8", "bad-toml", "too-deep"],
)
def test_the_same_mistake_reads_the_same_in_protocols_and_instruments(
    tmp_path: Path, data: bytes
) -> None:
    protocol, instrument = _both(tmp_path, data)
    first = protocol.split(", the limit for a")[0].split(": fix the syntax")[0]
    assert instrument.startswith(first.replace("10 levels", f"{MAX_NESTING_DEPTH} levels"))


def test_a_misspelt_key_reads_the_same_in_both(tmp_path: Path) -> None:
    protocol, instrument = _both(tmp_path, b'nmae = "x"\n')
    assert protocol.startswith("same.toml: unknown key 'nmae' (did you mean 'name'?)")
    assert instrument.startswith("same.toml: unknown key 'nmae' (did you mean 'name'?)")


def test_limits_are_named(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (MAX_INSTRUMENT_FILE_BYTES + 1))
    with pytest.raises(InstrumentFileError, match="larger than 128 KiB, the limit for an"):
        load_instrument_file(huge)
    many = 'id = "x"\nname = "X"\n' + "".join(
        f'[[items]]\nid = "q{n}"\ntext = "Q"\nmin = 0\nmax = 1\n' for n in range(MAX_ITEMS + 1)
    )
    with pytest.raises(InstrumentFileError, match=f"limit for an instrument is {MAX_ITEMS} items"):
        parse_instrument(many, "many.toml")
    with pytest.raises(InstrumentFileError, match="file not found"):
        load_instrument_file(tmp_path / "none.toml")
    with pytest.raises(InstrumentFileError, match="is a folder, not an instrument file"):
        load_instrument_file(tmp_path)
    with pytest.raises(InstrumentFileError, match="unknown instrument 'odi': choose one of"):
        load_instrument("odi")


def test_a_file_without_source_or_licence_warns(tmp_path: Path) -> None:
    text = 'id = "x"\nname = "X"\n[[items]]\nid = "q"\ntext = "Q"\nmin = 0\nmax = 3\n'
    text += '[[scores]]\nid = "t"\nmethod = "sum"\n'
    instrument = parse_instrument(text, "x.toml")
    assert instrument.warnings and "licence" in instrument.warnings[0]


def test_user_instruments_are_found_by_id(_isolated_data_dir: Path) -> None:
    folder = _isolated_data_dir / "instruments"
    folder.mkdir(parents=True)
    (folder / "clinic-odi.toml").write_text(
        'id = "clinic-odi"\nname = "Licensed"\nsource = "s"\nlicence = "clinic licence"\n'
        '[[items]]\nid = "q"\ntext = "Q"\nmin = 0\nmax = 5\n[[scores]]\nid = "t"\nmethod = "sum"\n',
        encoding="utf-8",
    )
    assert load_instrument("clinic-odi").origin == str(folder / "clinic-odi.toml")


def test_a_user_file_is_found_by_its_id_and_may_not_take_a_built_in_id(
    _isolated_data_dir: Path,
) -> None:
    from biofeedback.outcomes import list_instruments

    folder = _isolated_data_dir / "instruments"
    folder.mkdir(parents=True)
    body = '\nname = "N"\nsource = "s"\nlicence = "l"\n[[items]]\nid = "q"\ntext = "Q"\nmin = 0\n'
    body += 'max = 5\n[[scores]]\nid = "t"\nmethod = "sum"\n'
    (folder / "renamed.toml").write_text('id = "clinic-x"' + body, encoding="utf-8")
    (folder / "copy.toml").write_text('id = "pain-nrs"' + body, encoding="utf-8")
    (folder / "broken.toml").write_text('id = "clinic-y"\n', encoding="utf-8")
    assert load_instrument("clinic-x").origin == str(folder / "renamed.toml")
    assert load_instrument("pain-nrs").builtin
    errors: list[InstrumentFileError] = []
    ids = [i.id for i in list_instruments(errors=errors)]
    assert ids.count("pain-nrs") == 1 and "clinic-x" in ids
    assert [str(e) for e in errors] == [
        "broken.toml: missing required key 'name' (e.g. name = \"Pain intensity 0-10\")",
        f"{folder / 'copy.toml'}: id 'pain-nrs' is already taken by builtin:pain-nrs: give the "
        "file its own id",
    ]
