"""Education pages, thought records and reflections in the window: the widgets with keyboard and
mouse, and a protocol session that waits on a page and stores the patient's answers."""

from __future__ import annotations

from PySide6.QtCore import Qt

from biofeedback import config
from biofeedback.gui.education_page import EducationPageWidget
from biofeedback.gui.main_window import MainWindow
from biofeedback.gui.patient_view import PatientViewWidget
from biofeedback.gui.thought_record import StepFormWidget
from biofeedback.storage.database import Database
from biofeedback.training import steps

SOURCE = "sim://?scenario=relax&level_uv=4&board=12bit&channels=raw,ref&speed=8&seed=3"

PROTOCOL = """
format = 1
name = "gui-steps"
[threshold]
target = "3 uV"
[[phases]]
kind = "baseline"
duration = "4 s"
[[phases]]
name = "cycle"
kind = "education"
page = "tension-pain-cycle"
[[phases]]
kind = "reflection"
prompt = "What helped?"
[[phases]]
kind = "train"
duration = "4 s"
feedback = "visual"
"""


def test_page_shows_text_and_enter_continues(qtbot):
    page = EducationPageWidget()
    qtbot.addWidget(page)
    body = steps.load_page("pacing-and-graded-activity", None)
    page.show_page(body.title, body.body)
    page.show()
    assert "Pacing and graded activity" in page.text and "boom and bust" in page.text
    assert page.image_path is None and "<img" not in page.browser.toHtml()
    with qtbot.waitSignal(page.continued, timeout=2000):
        qtbot.keyClick(page, Qt.Key.Key_Return)
    with qtbot.waitSignal(page.continued, timeout=2000):
        qtbot.mouseClick(page.continue_button, Qt.MouseButton.LeftButton)


def test_long_page_scrolls_from_the_keyboard(qtbot):
    page = EducationPageWidget()
    qtbot.addWidget(page)
    page.resize(700, 400)
    page.show()
    body = steps.load_page("flare-up-plan", None)
    page.show_page(body.title, body.body)
    qtbot.waitExposed(page)
    bar = page.browser.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    page.continue_button.setFocus()
    qtbot.keyClick(page.continue_button, Qt.Key.Key_Down)
    assert bar.value() > 0
    line = bar.value()
    qtbot.keyClick(page.continue_button, Qt.Key.Key_PageDown)
    down = bar.value()
    assert down > line
    qtbot.keyClick(page.continue_button, Qt.Key.Key_PageUp)
    assert bar.value() < down


def test_page_shows_an_image(qtbot, tmp_path):
    from PySide6.QtGui import QColor, QPixmap

    pixmap = QPixmap(40, 20)
    pixmap.fill(QColor("teal"))
    path = tmp_path / "pic.png"
    assert pixmap.save(str(path))
    page = EducationPageWidget()
    qtbot.addWidget(page)
    page.show_page("T", "Text.", str(path))
    assert page.image_path == str(path)
    assert '<img src="file://' in page.browser.toHtml() and 'width="40"' in page.browser.toHtml()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not a picture")
    page.show_page("T", "Text.", str(tmp_path / "broken.png"))
    assert page.image_path is None and "<img" not in page.browser.toHtml()


def test_thought_record_one_field_per_screen_keyboard_and_mouse(qtbot):
    form = StepFormWidget()
    qtbot.addWidget(form)
    form.show()
    form.show_form("thought-record", "")
    assert form.progress.text() == "1 of 7" and not form.back_button.isEnabled()
    qtbot.keyClicks(form.inputs[0], "Long meeting")
    qtbot.keyClick(form.inputs[0], Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert form.index == 1
    qtbot.keyClicks(form.inputs[1], "My back will give out")
    qtbot.mouseClick(form.next_button, Qt.MouseButton.LeftButton)
    percent = form.inputs[2]
    percent.box.setValue(75)
    qtbot.keyClick(percent.box, Qt.Key.Key_Return)  # Enter in a percent field goes on
    assert form.index == 3
    qtbot.mouseClick(form.back_button, Qt.MouseButton.LeftButton)
    assert form.index == 2 and form.answers()["belief_before"] == 75.0
    for _ in range(4):
        form.next()
    assert form.index == 6 and form.next_button.text() == "Save"
    form.inputs[6].slider.setValue(30)
    with qtbot.waitSignal(form.saved, timeout=2000) as saved:
        qtbot.mouseClick(form.next_button, Qt.MouseButton.LeftButton)
    answers = saved.args[0]
    assert answers["situation"] == "Long meeting" and answers["thought"] == "My back will give out"
    assert answers["belief_before"] == 75.0 and answers["belief_after"] == 30.0
    assert answers["evidence_for"] == "" and steps.check_answers("thought-record", answers)


def test_reflection_form_and_skip(qtbot):
    form = StepFormWidget()
    qtbot.addWidget(form)
    form.show_form("reflection", "", "What helped?")
    assert form.progress.text() == "" and form.next_button.text() == "Save"
    with qtbot.waitSignal(form.skipped, timeout=2000):
        qtbot.mouseClick(form.skip_button, Qt.MouseButton.LeftButton)


def test_patient_view_reports_the_step_once(qtbot):
    view = PatientViewWidget()
    qtbot.addWidget(view)
    view.show_step(4, "education", {"title": "T", "text": "Body."}, "Read.")
    assert view.body.currentWidget() is view.page and view.instruction.text() == "Read."
    got = []
    view.step_done.connect(lambda *args: got.append(args))
    view.page.continued.emit()
    view.page.continued.emit()  # a second Enter before the runner moved on: ignored
    assert got == [(4, {}, False)]
    view.hide_step()
    assert view.body.currentWidget() is view.room


def test_session_waits_on_the_page_and_stores_the_reflection(qtbot):
    folder = config.data_dir() / "protocols"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gui-steps.toml").write_text(PROTOCOL, encoding="utf-8")
    window = MainWindow(SOURCE, safety_check=False, audio=False, remember=False, ask_pain=False)
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    assert window.start_session("gui-steps", "P09")
    patient = window.patient
    qtbot.waitUntil(lambda: patient.body.currentWidget() is patient.page, timeout=20000)
    assert window.view == "patient" and "tension-pain cycle" in patient.page.text.lower()
    runner = window.session.runner
    # the page waits: the phase does not end on its own however long the patient reads
    start = runner.next_index
    qtbot.waitUntil(lambda: runner.next_index > start + 4 * runner.fs_hz, timeout=20000)
    assert runner.state().phase_kind == "education" and runner.state().awaiting_continue
    label = window.session_panel.time_label
    qtbot.waitUntil(lambda: label.text().startswith("waiting for the patient"), timeout=10000)
    qtbot.keyClick(patient.page, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: patient.body.currentWidget() is patient.form, timeout=20000)
    qtbot.keyClicks(patient.form.inputs[0], "Breathing out slowly")
    qtbot.mouseClick(patient.form.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.last_session_result is not None, timeout=30000)
    result = window.last_session_result
    assert result.status == "complete"
    with Database() as db:
        summary = db.get_session(result.session_id).summary
    responses = summary["responses"]
    assert [(r["kind"], r["status"]) for r in responses] == [
        ("education", "continued"),
        ("reflection", "answered"),
    ]
    assert responses[1]["answers"] == {"reflection": "Breathing out slowly"}
    education = next(p for p in summary["phases"] if p["kind"] == "education")
    assert education["duration_s"] >= 4 and education["pct_below"] is None
