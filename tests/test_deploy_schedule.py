"""Cron windows of a replica schedule (solver/deploy/schedule.py), replayed with KEDA's documented rule."""

from __future__ import annotations

import pytest

from solver.deploy.schedule import cron_schedule
from solver.errors import DeployError


def _minutes(expr: str) -> tuple[int, int | None]:
    minute, hour, _, _, dow = expr.split()
    return int(hour) * 60 + int(minute), None if dow == "*" else int(dow)


def _replicas_at(sched, day: int, minute: int) -> int:
    """Day 0 = Monday = cron day of week 1. Inside [start, end) a window asks for its replicas."""
    wanted = [sched.min_replicas]
    for w in sched.windows:
        (s, sdow), (e, edow) = _minutes(w.start), _minutes(w.end)
        if sdow is None:
            e = e or 1440
            inside = s <= minute < e
        else:
            start = ((sdow - 1) % 7) * 1440 + s
            end = ((edow - 1) % 7) * 1440 + e
            now = day * 1440 + minute
            inside = start <= now < end if start < end else (now >= start or now < end)
        if inside:
            wanted.append(w.replicas)
    return max(wanted)


def test_half_hour_slots_over_half_a_day_repeat_twice_a_day() -> None:
    # 12-hour horizon: 0.5 h at 4, 11.5 h at 1 -> 00:00-00:30 and 12:00-12:30 at 4 replicas.
    sched = cron_schedule([4, 1], [0.5, 11.5])
    assert sched.period == "daily" and (sched.min_replicas, sched.max_replicas) == (1, 4)
    assert [(w.start, w.end, w.replicas) for w in sched.windows] == [
        ("0 0 * * *", "30 0 * * *", 4), ("0 12 * * *", "30 12 * * *", 4)]
    assert [_replicas_at(sched, 0, m) for m in (0, 29, 30, 719, 720, 749, 750)] == [4, 4, 1, 1, 4, 4, 1]


def test_a_weekly_horizon_uses_days_of_the_week() -> None:
    # Monday-Friday 10 replicas for 24 h each, weekend 2; the weekday block is one span cut at midnights.
    sched = cron_schedule([10] * 5 + [2] * 2, [24] * 7)
    assert sched.period == "weekly" and len(sched.windows) == 5
    assert sched.windows[0].start == "0 0 * * 1" and sched.windows[-1].end == "0 0 * * 6"
    for day in range(7):
        assert _replicas_at(sched, day, 600) == (10 if day < 5 else 2)


def test_a_horizon_cron_cannot_follow_is_refused() -> None:
    with pytest.raises(DeployError, match="neither daily nor weekly"):
        cron_schedule([1, 2, 3], [5, 5, 5])
    with pytest.raises(DeployError, match="whole minute"):
        cron_schedule([1, 2], [0.01, 23.99])
