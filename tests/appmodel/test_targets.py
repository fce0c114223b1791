"""Per-channel targets: one source of truth, every change announced once and logged."""

from __future__ import annotations

import numpy as np
import pytest

from biofeedback.appmodel.targets import PLACEHOLDER_UV, Targets
from biofeedback.training import thresholds as rules


def make(names=("raw",), remembered=None) -> tuple[Targets, list[tuple[int, float, str]]]:
    index = iter(range(100, 10_000, 100))
    targets = Targets(lambda: next(index))
    seen: list[tuple[int, float, str]] = []
    targets.changed.connect(lambda c, v, r: seen.append((c, v, r)))
    targets.setup(list(names), remembered or {})
    return targets, seen


def test_remembered_targets_and_placeholders() -> None:
    targets, seen = make(("raw", "env"), {"raw": 11.0, "env": -2})
    assert targets.values_uv == [11.0, PLACEHOLDER_UV]
    assert targets.pending == [False, True] and targets.first_target_due
    assert seen == []


def test_set_announces_once_and_logs() -> None:
    targets, seen = make()
    assert targets.set(0, 12.5, "clinician")
    assert not targets.set(0, 12.5, "clinician")  # no change: nothing announced
    assert not targets.set(0, float("nan")) and not targets.set(0, -1.0) and not targets.set(5, 3)
    assert seen == [(0, 12.5, "clinician")]
    change = targets.log[-1]
    assert (change.index, change.channel, change.value_uv, change.reason) == (
        100,
        0,
        12.5,
        "clinician",
    )
    assert targets.by_name() == {"raw": 12.5}


def test_nudge_is_five_percent_each_way() -> None:
    targets, seen = make(("a", "b"), {"a": 10.0, "b": 20.0})
    targets.nudge(up=True)
    assert targets.values_uv == [pytest.approx(10.5), pytest.approx(21.0)]
    targets.nudge(up=False)
    assert targets.values_uv == [pytest.approx(10.0), pytest.approx(20.0)]
    assert [r for _, _, r in seen] == ["clinician"] * 4
    assert rules.NUDGE_FACTOR == 1.05


def test_from_recent_uses_the_training_rule() -> None:
    targets, seen = make(("a", "b"), {"a": 1.0, "b": 1.0})
    recent = [np.full(100, 20.0), np.array([1.0, np.nan, 1.0])]
    done = targets.from_recent(recent, [2.0, 4.0])
    assert done == [0, 1]
    assert targets.values_uv[0] == pytest.approx(rules.RECENT_TARGET_FRACTION * 20.0)
    assert targets.values_uv[1] == pytest.approx(rules.NOISE_FLOOR_FACTOR * 4.0)  # the floor
    assert {r for _, _, r in seen} == {"from recent signal"}
    assert targets.from_recent([np.array([np.nan])], [1.0]) == []


def test_first_seconds_only_for_channels_without_a_target() -> None:
    targets, seen = make(("a", "b"), {"a": 7.0})
    targets.first_seconds([np.full(50, 10.0), np.full(50, 30.0)], [0.5, 0.5])
    assert targets.values_uv == [7.0, pytest.approx(27.0)]
    assert seen == [(1, pytest.approx(27.0), "first seconds")]
    assert not targets.first_target_due


def test_protocol_target_follows_scored_channels_and_ends_the_wait() -> None:
    targets, seen = make(("a", "b"))
    targets.follow_protocol(6.0, targets.scored_channels(1))
    assert targets.values_uv == [PLACEHOLDER_UV, 6.0]
    assert not targets.first_target_due
    targets.follow_protocol(8.0, targets.scored_channels("max"))
    assert targets.values_uv == [8.0, 8.0]
    assert [r for _, _, r in seen] == ["protocol"] * 3
    targets.follow_protocol(None, [0])
    assert len(seen) == 3


def test_leading_channel_is_furthest_above_its_target() -> None:
    targets, _ = make(("a", "b"), {"a": 10.0, "b": 2.0})
    assert targets.leading_channel(np.array([9.0, 3.0])) == 1
    assert targets.leading_channel(np.array([np.nan, np.nan])) == 0
    assert Targets().leading_channel(np.array([1.0])) is None


def test_a_new_source_resets_the_channels() -> None:
    targets, _ = make(("a",), {"a": 3.0})
    names: list[list[str]] = []
    targets.reset.connect(names.append)
    targets.setup(["x", "y"], {"y": 4.0})
    assert names == [["x", "y"]] and targets.values_uv == [PLACEHOLDER_UV, 4.0]
