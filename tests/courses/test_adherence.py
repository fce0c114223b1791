"""Adherence per ISO week against a dated prescription (pure functions)."""

from __future__ import annotations

import datetime as dt

from biofeedback.storage.database import local_start_time
from biofeedback.training.adherence import (
    INTERRUPTED_MIN_FRACTION,
    INTERRUPTED_MIN_S,
    MIN_PRACTICE_S,
    PracticeSession,
    Prescription,
    course_adherence,
    week_text,
)

D = dt.date
START = D(2026, 11, 5)  # a Thursday: ISO week 2026-W45 runs Mon 2 to Sun 8 November
RX = Prescription(START, sessions_per_week=5, minutes_per_session=10)
_ids = iter(range(1, 10_000))


def home(day: dt.date, minutes: float, status: str = "complete", hour: int = 18) -> PracticeSession:
    start = dt.datetime.combine(day, dt.time(hour, 0))
    return PracticeSession(next(_ids), start, minutes * 60.0, status, "home")


def week(result, monday: dt.date):
    return next(w for w in result.weeks if w.week_start == monday)


def test_first_week_crossing_the_course_start_is_pro_rated() -> None:
    result = course_adherence([home(D(2026, 11, 6), 10)], [RX], START, today=D(2026, 11, 8))
    assert [w.iso_week for w in result.weeks] == ["2026-W45"]
    first = result.weeks[0]
    # Thursday to Sunday: 4 of 7 days, 5 x 4 / 7 = 2.86 -> 3 sessions, 30 minutes
    assert (first.days_covered, first.prescribed_sessions, first.prescribed_minutes) == (4, 3, 30)
    assert first.sessions_done == 1 and first.met is False
    assert result.this_week_text() == "1 of 3 this week"


def test_a_session_before_the_start_date_opens_its_week() -> None:
    early = home(D(2026, 10, 30), 10)  # the Friday before: week 2026-W44
    result = course_adherence([early], [RX], START, today=D(2026, 11, 10))
    assert result.weeks[0].iso_week == "2026-W44"
    assert result.weeks[0].prescription is None and result.weeks[0].met is None
    assert result.weeks[0].sessions_done == 1  # practice is practice, even before the plan


def test_current_week_is_judged_as_a_whole_week() -> None:
    result = course_adherence([], [RX], START, today=D(2026, 11, 11))  # a Wednesday
    assert week(result, D(2026, 11, 9)).prescribed_sessions == 5
    assert result.this_week_text() == "0 of 5 this week"


def test_prescription_change_mid_week_holds_from_the_next_week() -> None:
    change = Prescription(D(2026, 11, 11), sessions_per_week=3, minutes_per_session=20)
    result = course_adherence([], [RX, change], START, today=D(2026, 11, 22))
    assert week(result, D(2026, 11, 9)).prescribed_sessions == 5  # Monday's prescription
    later = week(result, D(2026, 11, 16))
    assert (later.prescribed_sessions, later.prescribed_minutes) == (3, 60)
    assert later.prescription == change


def test_prescription_change_dated_on_a_monday_holds_that_week() -> None:
    change = Prescription(D(2026, 11, 9), sessions_per_week=2, minutes_per_session=10)
    result = course_adherence([], [change, RX], START, today=D(2026, 11, 12))  # any order
    assert week(result, D(2026, 11, 9)).prescribed_sessions == 2


def test_interrupted_sessions_count_only_above_the_minimum_and_are_reported_apart() -> None:
    rx = Prescription(START, sessions_per_week=5, minutes_per_session=20)
    threshold_min = INTERRUPTED_MIN_FRACTION * 20  # 10 minutes
    monday = D(2026, 11, 9)
    sessions = [
        home(monday, threshold_min - 0.5, "interrupted"),
        home(monday + dt.timedelta(days=1), threshold_min + 0.5, "interrupted"),
        home(monday + dt.timedelta(days=2), 20),
    ]
    w = week(course_adherence(sessions, [rx], START, today=D(2026, 11, 15)), monday)
    assert w.sessions_done == 2 and w.interrupted_counted == 1
    assert w.interrupted_short == 1 and abs(w.interrupted_short_minutes - 9.5) < 1e-9
    assert abs(w.minutes_done - 30.5) < 1e-9  # the short one adds no minutes
    assert w.days_practised == 2


def test_without_a_prescription_an_interrupted_session_needs_the_absolute_minimum() -> None:
    minimum_min = INTERRUPTED_MIN_S / 60.0
    day = D(2026, 11, 10)
    sessions = [home(day, minimum_min - 0.1, "interrupted"), home(day, minimum_min, "interrupted")]
    w = course_adherence(sessions, [], START, today=day).weeks[-1]
    assert (w.sessions_done, w.interrupted_short) == (1, 1)


def test_a_very_short_complete_session_is_not_practice() -> None:
    day = D(2026, 11, 10)
    short = PracticeSession(1, dt.datetime(2026, 11, 10, 9), MIN_PRACTICE_S - 1, "complete", "home")
    w = course_adherence([short, home(day, 10)], [RX], START, today=day).weeks[-1]
    assert w.sessions_done == 1 and w.interrupted_short == 0


def test_two_sessions_on_one_day_are_two_sessions_and_one_day() -> None:
    day = D(2026, 11, 10)
    sessions = [home(day, 10, hour=8), home(day, 10, hour=20)]
    result = course_adherence(sessions, [RX], START, today=day)
    w = result.weeks[-1]
    assert (w.sessions_done, w.days_practised) == (2, 1)
    assert result.practice_days == [day] and result.current_day_streak == 1


def test_clinic_and_unlabelled_sessions_are_not_home_practice() -> None:
    day = D(2026, 11, 10)
    clinic = PracticeSession(1, dt.datetime(2026, 11, 10, 10), 1800, "complete", "clinic")
    unknown = PracticeSession(2, dt.datetime(2026, 11, 10, 11), 1800, "complete", None)
    recording = PracticeSession(3, dt.datetime(2026, 11, 10, 12), 1800, "recording", "home")
    w = course_adherence([clinic, unknown, recording], [RX], START, today=day).weeks[-1]
    assert (w.sessions_done, w.clinic_sessions, w.days_practised) == (0, 1, 0)


def test_week_met_needs_sessions_and_nearly_all_minutes() -> None:
    monday = D(2026, 11, 9)
    rx = Prescription(START, sessions_per_week=2, minutes_per_session=10)
    enough = [home(monday, 9.0), home(monday + dt.timedelta(days=1), 9.0)]  # 18 of 20: 90 %
    assert week(course_adherence(enough, [rx], START, monday + dt.timedelta(6)), monday).met
    short = [home(monday, 8.0), home(monday + dt.timedelta(days=1), 9.0)]  # 17 of 20
    assert week(course_adherence(short, [rx], START, monday + dt.timedelta(6)), monday).met is False


def test_streaks_of_days_and_weeks() -> None:
    rx = Prescription(D(2026, 11, 2), sessions_per_week=2, minutes_per_session=10)
    start = D(2026, 11, 2)
    days = [D(2026, 11, 2), D(2026, 11, 3)]  # W45 met
    days += [D(2026, 11, 9), D(2026, 11, 10), D(2026, 11, 11)]  # W46 met
    days += [D(2026, 11, 16)]  # W47 not met (1 of 2)
    days += [D(2026, 11, 23), D(2026, 11, 24)]  # W48 met
    days += [D(2026, 11, 30), D(2026, 12, 1), D(2026, 12, 2)]  # W49 met, today Wed 2 Dec
    result = course_adherence([home(d, 10) for d in days], [rx], start, today=D(2026, 12, 2))
    assert [w.met for w in result.weeks] == [True, True, False, True, True]
    assert result.current_week_streak == 2 and result.longest_week_streak == 2
    assert result.current_day_streak == 3 and result.longest_day_streak == 3
    # the day streak survives a today without practice yet, not a missed yesterday
    later = course_adherence([home(d, 10) for d in days], [rx], start, today=D(2026, 12, 3))
    assert later.current_day_streak == 3
    assert (
        course_adherence(
            [home(d, 10) for d in days], [rx], start, D(2026, 12, 4)
        ).current_day_streak
        == 0
    )


def test_the_unfinished_current_week_does_not_break_the_week_streak() -> None:
    rx = Prescription(D(2026, 11, 2), sessions_per_week=1, minutes_per_session=10)
    sessions = [home(D(2026, 11, 3), 10), home(D(2026, 11, 10), 10)]
    result = course_adherence(sessions, [rx], D(2026, 11, 2), today=D(2026, 11, 18))
    assert [w.met for w in result.weeks] == [True, True, False]
    assert result.current_week_streak == 2
    assert result.this_week_text() == "0 of 1 this week"


def test_until_and_course_end_shorten_the_weeks() -> None:
    rx = Prescription(START, sessions_per_week=7, minutes_per_session=10, until=D(2026, 11, 11))
    result = course_adherence([], [rx], START, today=D(2026, 11, 30), end=D(2026, 11, 20))
    assert [w.iso_week for w in result.weeks] == ["2026-W45", "2026-W46", "2026-W47"]
    assert week(result, D(2026, 11, 9)).prescribed_sessions == 3  # Mon-Wed of 7 a week
    assert week(result, D(2026, 11, 16)).met is None  # home practice was over
    ended = course_adherence([], [RX], START, today=D(2026, 11, 30), end=D(2026, 11, 10))
    assert ended.weeks[-1].days_covered == 2  # Monday and Tuesday


def test_week_text_and_json() -> None:
    result = course_adherence([home(D(2026, 11, 10), 10)], [RX], START, today=D(2026, 11, 10))
    assert week_text(result.weeks[-1]) == "1 of 5 this week"
    data = result.to_dict()
    assert data["this_week_text"] == "1 of 5 this week"
    assert data["weeks"][-1]["iso_week"] == "2026-W46"
    assert data["rules"]["interrupted_min_fraction"] == INTERRUPTED_MIN_FRACTION
    no_target = course_adherence([home(D(2026, 11, 10), 10)], [], START, today=D(2026, 11, 10))
    assert no_target.this_week_text() == "1 this week"


def test_local_start_uses_the_stored_offset_not_this_machines_zone() -> None:
    # Sunday 23:30 UTC is Monday 00:30 in Berlin (UTC+1 in winter): a new ISO week
    sunday_late_utc = dt.datetime(2026, 11, 8, 23, 30, tzinfo=dt.UTC).timestamp()
    local = local_start_time(sunday_late_utc, 60)
    assert local == dt.datetime(2026, 11, 9, 0, 30)
    session = PracticeSession(1, local, 600, "complete", "home")
    result = course_adherence([session], [RX], START, today=D(2026, 11, 9))
    assert result.weeks[-1].iso_week == "2026-W46" and result.weeks[-1].sessions_done == 1
    assert local_start_time(sunday_late_utc, -300) == dt.datetime(2026, 11, 8, 18, 30)


def test_as_of_a_day_sessions_after_it_are_not_seen() -> None:
    """``course show --as-of`` shows adherence as it stood then, not with later sessions."""
    later = [home(D(2026, 11, 20), 10), home(D(2026, 11, 21), 10)]
    early = [home(D(2026, 11, 6), 10)]
    result = course_adherence(early + later, [RX], START, today=D(2026, 11, 8))
    assert [w.iso_week for w in result.weeks] == ["2026-W45"]
    assert result.weeks[0].sessions_done == 1 and result.longest_day_streak == 1
    before = course_adherence(early + later, [RX], START, today=D(2026, 11, 1))
    assert sum(w.sessions_done for w in before.weeks) == 0
