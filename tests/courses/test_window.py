"""The window attaches a session to the subject's open course, as ``biofeedback record`` does."""

from __future__ import annotations

import datetime as dt

from biofeedback.gui.main_window import MainWindow
from biofeedback.storage.courses import open_course, set_station_role, start_course
from biofeedback.storage.database import Database
from biofeedback.training.adherence import Prescription

SOURCE = "sim://?scenario=relax&board=12bit&channels=raw,ref&speed=8&seed=3"


def test_a_window_session_belongs_to_the_open_course(qtbot) -> None:
    today = dt.date.today()
    with Database() as db:
        db.add_subject("P5")
        start_course(db, "P5", today, Prescription(today, 3, 10))
        course = open_course(db, "P5")
        set_station_role(db, "clinic")
    window = MainWindow(SOURCE, safety_check=False, audio=False, remember=False, ask_pain=False)
    qtbot.addWidget(window)
    window.show()
    assert window.start()
    assert window.start_session("", "P5", None)
    qtbot.waitUntil(lambda: window.bridge.elapsed_s > 0.5, timeout=10000)
    result = window.finish_session()
    with Database() as db:
        record = db.get_session(result.session_id)
    assert course is not None and record.course_id == course.id
    assert record.setting == "clinic" and len(record.uid) == 32
    window.close()
