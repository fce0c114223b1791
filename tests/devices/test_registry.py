import pytest

from biofeedback.devices.registry import open_device, parse_source_url
from biofeedback.errors import SourceURLError


def test_parse_options_and_path():
    url = parse_source_url("serial:///dev/ttyACM0?baud=500000&format=text")
    assert url.scheme == "serial" and url.path == "/dev/ttyACM0"
    assert url.get_int("baud") == 500000
    assert url.get_str("format", choices=["binary", "text"]) == "text"
    url.check_consumed()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", "not a source URL"),
        ("ftp://x", "unknown source type"),
        ("sim://?seed=1&seed=2", "given twice"),
    ],
)
def test_malformed_urls_have_clear_messages(text, message):
    with pytest.raises(SourceURLError, match=message):
        parse_source_url(text)


def test_typed_getters_reject_bad_values():
    url = parse_source_url("sim://?fs=fast&level_uv=-3&scenario=zen")
    with pytest.raises(SourceURLError, match="not a number"):
        url.get_float("fs")
    with pytest.raises(SourceURLError, match="out of range"):
        url.get_float("level_uv", lo=0.0)
    with pytest.raises(SourceURLError, match="choose one of"):
        url.get_str("scenario", choices=["relax", "steady"])


def test_unknown_option_is_reported():
    with pytest.raises(SourceURLError, match="unknown option"):
        open_device("sim://?senario=relax")
