"""The data folder: never chmodded; a folder others may open gets a private subfolder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from biofeedback import config
from biofeedback.errors import StorageError
from biofeedback.storage.database import Database

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX folder modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def use(path: Path) -> Path:
        monkeypatch.setenv("BIOFEEDBACK_HOME", str(path))
        return path

    config._warned.clear()
    return use


def test_a_shared_sticky_folder_keeps_its_mode_and_gets_a_private_subfolder(
    home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = home(tmp_path / "shared")
    shared.mkdir()
    shared.chmod(0o1777)
    first = config.data_dir()
    second = config.data_dir()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777  # the sticky bit survives
    assert first == second == shared / config.PRIVATE_SUBFOLDER
    assert _mode(first) == 0o700
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other users may open" in err  # warned once, one line
    db = Database()
    assert db.path.parent == first
    db.close()


def test_a_readable_folder_is_not_chmodded(home, tmp_path: Path) -> None:
    folder = home(tmp_path / "clinic")
    folder.mkdir()
    folder.chmod(0o755)
    assert config.data_dir() == folder / config.PRIVATE_SUBFOLDER
    assert _mode(folder) == 0o755


def test_existing_data_at_the_top_level_is_used_where_it_is(home, tmp_path: Path) -> None:
    folder = home(tmp_path / "old")
    folder.mkdir()
    db = Database(folder / "biofeedback.sqlite")
    db.close()
    folder.chmod(0o755)
    assert config.data_dir() == folder
    assert _mode(folder) == 0o755
    assert not (folder / config.PRIVATE_SUBFOLDER).exists()


def test_a_private_or_new_folder_is_used_directly(home, tmp_path: Path) -> None:
    private = home(tmp_path / "private")
    private.mkdir(mode=0o700)
    assert config.data_dir() == private
    new = home(tmp_path / "a" / "b")
    assert config.data_dir(create=False) == new and not new.exists()
    assert config.data_dir() == new and _mode(new) == 0o700


def test_create_false_changes_nothing(home, tmp_path: Path) -> None:
    shared = home(tmp_path / "shared")
    shared.mkdir()
    shared.chmod(0o777)
    assert config.data_dir(create=False) == shared / config.PRIVATE_SUBFOLDER
    assert list(shared.iterdir()) == []


@pytest.mark.parametrize("plant", ["link", "open", "file"])
def test_a_planted_subfolder_is_refused(home, tmp_path: Path, plant: str) -> None:
    shared = home(tmp_path / "shared")
    shared.mkdir()
    shared.chmod(0o1777)
    sub = shared / config.PRIVATE_SUBFOLDER
    if plant == "link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        sub.symlink_to(tmp_path / "elsewhere")
    elif plant == "open":
        sub.mkdir()
        sub.chmod(0o777)
    else:
        sub.write_text("")
    with pytest.raises(StorageError, match=config.PRIVATE_SUBFOLDER) as info:
        config.data_dir()
    assert "\n" not in str(info.value)


def test_a_blank_folder_name_is_refused(home) -> None:
    home(Path("   "))
    with pytest.raises(StorageError, match="blank"):
        config.data_dir()


def test_settings_are_saved_0600_without_following_a_planted_link(home, tmp_path: Path) -> None:
    folder = home(tmp_path / "private")
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    (folder / "settings.json.tmp").symlink_to(victim)  # the old fixed temporary name
    config.save_settings({"mains": "60"})
    assert config.load_settings() == {"mains": "60"}
    assert not victim.exists()
    assert _mode(folder / "settings.json") == 0o600
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
