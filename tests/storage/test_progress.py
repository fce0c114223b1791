"""Progress: trend values from stored sessions, streaks, weekly goal."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
from storage_helpers import myoware_info, synthetic_counts

from biofeedback.storage.database import Database
from biofeedback.storage.progress import (
    current_streak,
    longest_streak,
    practice_days,
    progress_summary,
    session_point,
    subject_trend,
    trend_sentences,
    week_progress,
)

D = dt.date


def add_session(
    db: Database, day: dt.date, seconds: float, summary: dict | None = None, phases=None
) -> int:
    started = time.mktime(dt.datetime.combine(day, dt.time(10, 0)).timetuple())
    sid = db.create_session("P1", "clinical-session", myoware_info(), started_at=started)
    n = int(seconds * 1000)
    with db.transaction() as conn:
        db.write_block(conn, sid, 0, synthetic_counts(n), np.zeros(n, np.uint16))
    if phases:
        db.save_phases(sid, phases)
    db.finish_session(sid, "complete", summary or {})
    return sid


def test_streaks() -> None:
    days = [D(2024, 3, 1), D(2024, 3, 2), D(2024, 3, 3), D(2024, 3, 5), D(2024, 3, 6)]
    assert longest_streak(days) == 3
    assert current_streak(days, D(2024, 3, 6)) == 2
    assert current_streak(days, D(2024, 3, 7)) == 2  # today not over yet
    assert current_streak(days, D(2024, 3, 8)) == 0
    assert longest_streak([]) == 0 and current_streak([], D(2024, 1, 1)) == 0


def test_point_prefers_summary_and_falls_back_to_phases(db: Database) -> None:
    phases = [
        {"name": "baseline", "kind": "baseline", "start_s": 0, "duration_s": 1, "median_uv": 6.0},
        {"name": "baseline 2", "kind": "baseline", "start_s": 1, "duration_s": 1, "median_uv": 4.0},
        {"name": "train 1", "kind": "train", "start_s": 2, "duration_s": 1, "pct_below": 60.0},
        {"name": "train 2", "kind": "train", "start_s": 3, "duration_s": 1, "pct_below": 80.0},
        {"name": "recovery", "kind": "recovery", "start_s": 4, "duration_s": 1, "recovery_s": 3.5},
    ]
    sid = add_session(db, D(2024, 3, 1), 5, phases=phases)
    point = session_point(db.get_session(sid), db.phases(sid))
    assert (point.baseline_uv, point.pct_below, point.recovery_s) == (5.0, 70.0, 3.5)
    sid2 = add_session(
        db,
        D(2024, 3, 2),
        5,
        {"baseline_uv": 3.0, "training_pct_below": 75.0, "recovery_s": None},
        phases,
    )
    point = session_point(db.get_session(sid2), db.phases(sid2))
    assert (point.baseline_uv, point.pct_below, point.recovery_s) == (3.0, 75.0, 3.5)
    text = trend_sentences(subject_trend(db, "P1"))
    assert text[0].startswith("Resting (baseline) tension: 5.0 uV in the first session, 3.0 uV")
    assert "lower, 40 %" in text[0]


def test_summary_weekly_goal_and_short_sessions(db: Database) -> None:
    db.ensure_subject("P1", weekly_goal=3)
    db.set_reminder("P1", "18:30")
    add_session(db, D(2024, 3, 4), 120)  # Monday
    add_session(db, D(2024, 3, 5), 120)
    add_session(db, D(2024, 3, 6), 10)  # too short to count as practice
    summary = progress_summary(db, "P1", today=D(2024, 3, 7))
    assert [p.duration_s for p in summary.points] == [120.0, 120.0, 10.0]
    assert summary.practice_days == [D(2024, 3, 4), D(2024, 3, 5)]
    assert summary.current_streak_days == 0 and summary.longest_streak_days == 2
    week = summary.this_week
    assert (week.week_start, week.sessions, week.goal, week.met, week.remaining) == (
        D(2024, 3, 4),
        2,
        3,
        False,
        1,
    )
    assert summary.reminder == "18:30"
    assert summary.to_dict()["this_week"]["sessions"] == 2
    assert week_progress(summary.points, None, D(2024, 3, 11)).sessions == 0
    assert practice_days(summary.points, min_duration_s=0)[-1] == D(2024, 3, 6)


def test_recording_sessions_are_not_trend_points(db: Database) -> None:
    db.create_session("P1", "x", myoware_info())
    assert subject_trend(db, "P1") == []
