"""Build the one-folder biofeedback app, archive it, and check that it runs (docs/packaging.md).

From a clean checkout, with the project and PyInstaller installed (``pip install -e ".[package]"``):

    python packaging/build.py                # build dist/biofeedback/, archive it, smoke-check it
    python packaging/build.py --smoke-only   # only check an existing dist/biofeedback/
    python packaging/build.py --render-icon  # redraw packaging/biofeedback.png from the SVG

The smoke check runs the executables of the unpacked archive (what a user gets), with no Python
environment visible to them: the CLI (stream, record, export, report, replay of an EDF file), bad
input, the window offscreen until it streams and then SIGTERM, and install.sh into a scratch
XDG_DATA_HOME. It prints the build time and the sizes; any failed check exits 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
ROOT = PACKAGING.parent
SPEC = PACKAGING / "biofeedback.spec"
NAME = "biofeedback"
SIM = "sim://?scenario=relax"
#: Seconds the window may take to open and stream in the smoke check (a loaded CI machine).
GUI_DEADLINE_S = 90.0
#: What the window writes to its log once its source streams (gui/main_window.py).
GUI_READY = "window streaming from"


class SmokeError(Exception):
    """A check on the built app failed."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build, archive and smoke-check the app.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (dist/)")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller work folder"
    )
    parser.add_argument("--smoke-only", action="store_true", help="check an existing build")
    parser.add_argument("--no-smoke", action="store_true", help="build and archive only")
    parser.add_argument("--render-icon", action="store_true", help="redraw biofeedback.png, exit")
    args = parser.parse_args(argv)
    if args.render_icon:
        render_icon(PACKAGING / "biofeedback.svg", PACKAGING / "biofeedback.png")
        print(f"wrote {PACKAGING / 'biofeedback.png'}")
        return 0
    dist = args.dist.resolve()
    app_dir = dist / NAME
    archive = dist / archive_name()
    if not args.smoke_only:
        started = time.monotonic()
        pyinstaller = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
        paths = ["--distpath", str(dist), "--workpath", str(args.work.resolve())]
        if subprocess.run([*pyinstaller, *paths, str(SPEC)], check=False).returncode != 0:
            print("build.py: PyInstaller failed (its messages are above)", file=sys.stderr)
            return 1
        built_s = time.monotonic() - started
        make_archive(app_dir, archive)
        print(f"== build: {built_s:.0f} s (PyInstaller + archive)")
    if not app_dir.is_dir() or not archive.is_file():
        print(f"build.py: no build in {dist}: run without --smoke-only first", file=sys.stderr)
        return 2
    print(f"== {app_dir}: {describe_size(app_dir)}")
    print(f"== {archive}: {archive.stat().st_size / 2**20:.0f} MiB")
    if args.no_smoke:
        return 0
    try:
        smoke(archive)
    except SmokeError as exc:
        print(f"smoke check FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def archive_name() -> str:
    """``biofeedback-<version>-linux-<machine>.tar.gz``."""
    system = platform.system().lower()
    return f"{NAME}-{metadata.version(NAME)}-{system}-{platform.machine()}.tar.gz"


def make_archive(app_dir: Path, archive: Path) -> None:
    """The folder as a tar.gz whose single top-level entry is ``biofeedback/``."""
    tmp = archive.with_name(archive.name + ".part")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(app_dir, arcname=NAME)
    tmp.replace(archive)


def describe_size(folder: Path) -> str:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    total = sum(p.stat().st_size for p in files)
    return f"{total / 2**20:.0f} MiB in {len(files)} files"


def render_icon(svg: Path, png: Path, size: int = 256) -> None:
    """Draw the SVG icon into a ``size`` x ``size`` PNG with Qt's SVG renderer."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"build.py: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png)):
        raise SystemExit(f"build.py: cannot write {png}")


# ---------------------------------------------------------------------------------------------
# smoke check


def smoke(archive: Path) -> None:
    """Unpack the archive into a scratch folder and run every check against that copy."""
    with tempfile.TemporaryDirectory(prefix="biofeedback-smoke-") as tmp:
        scratch = Path(tmp)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "tar_filter"):
                tar.extractall(scratch / "app", filter="tar")
            else:  # Python 3.11 before 3.11.4 (Debian 12's) has no filters; the archive is ours
                tar.extractall(scratch / "app")
        app = scratch / "app" / NAME
        env = bundle_env(scratch)
        checks: list[tuple[str, Callable[[Path, Path, dict[str, str]], str]]] = [
            ("version", check_version),
            ("protocols (package data)", check_protocols),
            ("stream --json", check_stream),
            ("record, export EDF, report PDF, replay EDF", check_session_files),
            ("bad input", check_bad_input),
            ("window offscreen, SIGTERM", check_window),
            ("install.sh", check_install),
        ]
        passed = 0
        for name, check in checks:
            started = time.monotonic()
            try:
                detail = check(app, scratch, env)
            except (SmokeError, LookupError, TypeError, ValueError) as exc:
                # LookupError/TypeError/ValueError: the output had not the expected JSON shape
                print(f"FAIL {name}")
                print(f"smoke: {passed} passed, 1 failed")
                raise SmokeError(f"{name}: {type(exc).__name__}: {exc}") from exc
            passed += 1
            print(f"ok  {name} ({time.monotonic() - started:.1f} s): {detail}")
    print(f"smoke: {passed} passed, 0 failed")


def bundle_env(scratch: Path) -> dict[str, str]:
    """An environment in which only the bundle can provide Python and the libraries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    venv_bin = Path(sys.prefix) / "bin"
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != venv_bin]
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(scratch / var.lower())
    env["BIOFEEDBACK_HOME"] = str(scratch / "data")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def run(
    app: Path, args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    command = [str(app / NAME), *args]
    try:
        return subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired:
        raise SmokeError(f"{' '.join(command)} did not finish in 180 s") from None


def expect_ok(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise SmokeError(
            f"{' '.join(result.args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    stdout: str = result.stdout
    return stdout


def check_version(app: Path, scratch: Path, env: dict[str, str]) -> str:
    out = expect_ok(run(app, ["--version"], env, scratch)).strip()
    if out != f"{NAME} {metadata.version(NAME)}":
        raise SmokeError(f"--version printed {out!r}")
    return out


def check_protocols(app: Path, scratch: Path, env: dict[str, str]) -> str:
    lines = expect_ok(run(app, ["protocols", "list"], env, scratch)).splitlines()
    names = [line.split()[0] for line in lines if line.strip()]
    if "desk-10min" not in names:
        raise SmokeError(f"the built-in protocols are missing: {names}")
    return f"{len(names)} built-in protocols"


def check_stream(app: Path, scratch: Path, env: dict[str, str]) -> str:
    args = ["stream", "--source", SIM, "--duration", "3", "--json"]
    out = expect_ok(run(app, args, env, scratch))
    try:
        result = json.loads(out)
    except json.JSONDecodeError as exc:
        raise SmokeError(f"stream --json did not print JSON ({exc}): {out[:300]!r}") from None
    fs, samples = result["fs_hz"], result["samples"]
    if not (fs > 0 and abs(samples - 3 * fs) <= 0.05 * 3 * fs and result["dropped"] == 0):
        raise SmokeError(
            f"implausible stream: {fs} Hz, {samples} samples, {result['dropped']} lost"
        )
    levels = [channel["rms_uv_mean"] for channel in result["channels"]]
    # the relax scenario is a relaxed muscle: a few uV RMS, well under 100
    if not levels or not all(math.isfinite(v) and 0 < v < 100 for v in levels):
        raise SmokeError(f"implausible RMS levels for a relaxed muscle: {levels}")
    return f"{samples} samples at {fs:g} Hz, RMS " + ", ".join(f"{v:.1f}" for v in levels) + " uV"


def check_session_files(app: Path, scratch: Path, env: dict[str, str]) -> str:
    record = ["record", "--source", SIM, "--duration", "2", "--json"]
    session = json.loads(expect_ok(run(app, record, env, scratch)))
    sid = str(session["session_id"])
    edf, pdf = scratch / "session.edf", scratch / "report.pdf"
    expect_ok(run(app, ["export", sid, "--format", "edf", "-o", str(edf)], env, scratch))
    expect_ok(run(app, ["report", sid, "-o", str(pdf)], env, scratch))
    if not pdf.read_bytes().startswith(b"%PDF"):
        raise SmokeError(f"{pdf} is not a PDF")
    replay = ["replay", str(edf), "--headless", "--duration", "1", "--json"]
    replayed = json.loads(expect_ok(run(app, replay, env, scratch)))
    if replayed["samples"] <= 0:
        raise SmokeError(f"replaying the exported EDF gave no samples: {replayed}")
    return (
        f"session {sid}, EDF {edf.stat().st_size} B replayed ({replayed['samples']} samples), "
        f"PDF {pdf.stat().st_size // 1024} KiB"
    )


def check_bad_input(app: Path, scratch: Path, env: dict[str, str]) -> str:
    result = run(app, ["stream", "--source", "bogus://", "--duration", "1"], env, scratch)
    message: str = result.stderr.strip()
    if result.returncode != 2 or len(message.splitlines()) != 1 or "Traceback" in message:
        raise SmokeError(f"bad source: exit {result.returncode}, stderr {message!r}")
    return message


def check_window(app: Path, scratch: Path, env: dict[str, str]) -> str:
    """Open the window offscreen, wait (with a deadline) until its log says it streams, then
    SIGTERM it: exit 0, nothing uncaught on stderr, no ERROR in the window's log."""
    app_log = Path(env["XDG_STATE_HOME"]) / NAME / "log" / "biofeedback.log"
    stderr_file = scratch / "gui-stderr.txt"
    command = [str(app / NAME), "gui", "--source", SIM]
    started = time.monotonic()

    def said() -> str:
        log_text = app_log.read_text() if app_log.exists() else "(no log written)"
        return f"log:\n{log_text}\nstderr:\n{stderr_file.read_text()}"

    with stderr_file.open("w") as err:
        proc = subprocess.Popen(command, env=env, cwd=scratch, stdout=err, stderr=err)
        try:
            while not (app_log.exists() and GUI_READY in app_log.read_text()):
                if proc.poll() is not None:
                    raise SmokeError(f"the window exited {proc.returncode}; {said()}")
                if time.monotonic() - started > GUI_DEADLINE_S:
                    raise SmokeError(f"no {GUI_READY!r} in {GUI_DEADLINE_S:.0f} s; {said()}")
                time.sleep(0.2)
            up_s = time.monotonic() - started
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                raise SmokeError(f"still running 30 s after SIGTERM; {said()}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # the log may hold warnings (no audio device on a CI machine) but no error
    errors = [
        line
        for line in app_log.read_text().splitlines()
        if " ERROR " in line or " CRITICAL " in line
    ]
    if code != 0 or "Traceback" in stderr_file.read_text() or errors:
        raise SmokeError(f"after SIGTERM the window exited {code}; {said()}")
    return f"streaming after {up_s:.1f} s, closed on SIGTERM with exit 0"


def check_install(app: Path, scratch: Path, env: dict[str, str]) -> str:
    data_home = Path(env["XDG_DATA_HOME"])
    installer = [str(app / "install.sh")]
    done = subprocess.run(installer, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SmokeError(f"install.sh exited {done.returncode}: {done.stderr}")
    entry = data_home / "applications" / "biofeedback.desktop"
    icon = data_home / "icons" / "hicolor" / "256x256" / "apps" / "biofeedback.png"
    svg = data_home / "icons" / "hicolor" / "scalable" / "apps" / "biofeedback.svg"
    missing = [p for p in (entry, icon, svg) if not p.is_file()]
    if missing:
        raise SmokeError(f"install.sh did not write {missing}")
    if f'Exec="{app.resolve()}/{NAME}" gui' not in entry.read_text():
        raise SmokeError(f"the menu entry does not start {app}:\n{entry.read_text()}")
    validated = "desktop-file-validate not installed"
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(entry)], capture_output=True, text=True
        )
        if check.returncode != 0 or check.stdout.strip():
            raise SmokeError(f"desktop-file-validate: {check.stdout}{check.stderr}")
        validated = "desktop-file-validate clean"
    width, height = png_size(icon)
    if (width, height) != (256, 256):
        raise SmokeError(f"the PNG icon is {width}x{height}, not 256x256")
    removed = subprocess.run([*installer, "--uninstall"], env=env, capture_output=True, text=True)
    if removed.returncode != 0 or entry.exists() or icon.exists():
        raise SmokeError("install.sh --uninstall left the menu entry or the icon")
    return f"entry + icons in XDG_DATA_HOME, {validated}, --uninstall removes them"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise SmokeError(f"{path} is not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


if __name__ == "__main__":
    sys.exit(main())
