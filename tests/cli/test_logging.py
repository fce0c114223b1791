"""The log: quiet on the terminal by default (commands print their own messages), shown with -v,
appended to --log-file; an unwritable log file is one line and exit 2."""

from __future__ import annotations

import logging

import pytest

from biofeedback.cli import main
from biofeedback.storage.database import Database

SOURCE = "sim://?scenario=relax&speed=max&seed=1"


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logger = logging.getLogger("biofeedback")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _log_something() -> None:
    logging.getLogger("biofeedback.engine").warning("a diagnostic line")


def test_quiet_by_default_verbose_on_request(capsys, monkeypatch):
    monkeypatch.setattr("biofeedback.cli.stream.run", lambda args: _log_something() or 0)
    assert main(["stream", "--source", SOURCE, "--duration", "1"]) == 0
    assert "a diagnostic line" not in capsys.readouterr().err
    assert main(["-v", "stream", "--source", SOURCE, "--duration", "1"]) == 0
    assert "a diagnostic line" in capsys.readouterr().err


def test_log_file_collects_the_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("biofeedback.cli.stream.run", lambda args: _log_something() or 0)
    log_file = tmp_path / "run.log"
    assert main(["--log-file", str(log_file), "stream", "--source", SOURCE, "--duration", "1"]) == 0
    assert "a diagnostic line" in log_file.read_text(encoding="utf-8")
    assert capsys.readouterr().err == ""


def test_an_unwritable_log_file_is_one_line(tmp_path, capsys):
    code = main(["--log-file", str(tmp_path / "no" / "such" / "dir.log"), "sessions"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "log file" in err


def test_the_log_file_may_not_be_the_database(capsys):
    Database().close()  # the store exists
    capsys.readouterr()
    from biofeedback.config import data_dir

    code = main(["--log-file", str(data_dir() / "biofeedback.sqlite"), "sessions"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "biofeedback.sqlite" in err
