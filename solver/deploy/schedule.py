"""A plan's replicas per slot as repeating cron windows (KEDA's cron scaler: within [start, end) the
target runs `desiredReplicas`; outside every window it runs `minReplicaCount`).

Slots repeat to fill the horizon, so the schedule is written as a daily cron when the horizon divides a
day (24 h, 12 h, ...) and as a weekly one (day of week) for a 168-hour horizon. Windows never cross
midnight (a window that would is split), consecutive slots with the same count are merged, and slots at
the minimum need no window.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.errors import DeployError

MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@dataclass(frozen=True)
class Window:
    start: str
    """Cron expression (minute hour day-of-month month day-of-week)."""
    end: str
    replicas: int


@dataclass(frozen=True)
class CronSchedule:
    min_replicas: int
    max_replicas: int
    windows: tuple[Window, ...]
    period: str
    """daily or weekly."""


def slot_starts_minutes(slot_hours: tuple[float, ...] | list[float]) -> list[int]:
    """Start of every slot in minutes from the start of the horizon; slots must fall on whole minutes."""
    starts, t = [], 0.0
    for h in slot_hours:
        minutes = t * 60
        if abs(minutes - round(minutes)) > 1e-6:
            raise DeployError(f"a slot starts {t:g} h into the horizon, not on a whole minute: cron cannot express it")
        starts.append(round(minutes))
        t += h
    total = t * 60
    if abs(total - round(total)) > 1e-6:
        raise DeployError(f"the horizon of {t:g} h does not end on a whole minute")
    starts.append(round(total))
    return starts


def _cron(minute_of_period: int, weekly: bool) -> str:
    """A weekly horizon starts on Monday (cron day of week 1; Sunday is 0)."""
    day, rest = divmod(minute_of_period, MINUTES_PER_DAY)
    hour, minute = divmod(rest, 60)
    return f"{minute} {hour} * * {(day + 1) % 7}" if weekly else f"{minute} {hour} * * *"


def cron_schedule(replicas_by_slot: tuple[int, ...] | list[int], slot_hours: tuple[float, ...] | list[float]
                  ) -> CronSchedule:
    """Cron windows reproducing `replicas_by_slot`. Raises DeployError when the horizon neither divides a
    day nor is a week."""
    if len(replicas_by_slot) != len(slot_hours):
        raise DeployError(f"{len(replicas_by_slot)} replica counts for {len(slot_hours)} slots")
    bounds = slot_starts_minutes(slot_hours)
    horizon = bounds[-1]
    if horizon == MINUTES_PER_WEEK:
        period, weekly, repeats = MINUTES_PER_WEEK, True, 1
    elif horizon and MINUTES_PER_DAY % horizon == 0:
        period, weekly, repeats = MINUTES_PER_DAY, False, MINUTES_PER_DAY // horizon
    else:
        raise DeployError(f"a {horizon / 60:g}-hour horizon repeats neither daily nor weekly: cron cannot follow it")
    low, high = min(replicas_by_slot), max(replicas_by_slot)
    # (start, end, replicas) over one period, slots repeated, equal neighbours merged.
    spans: list[list[int]] = []
    for r in range(repeats):
        for t, n in enumerate(replicas_by_slot):
            a, b = bounds[t] + r * horizon, bounds[t + 1] + r * horizon
            if spans and spans[-1][2] == n and spans[-1][1] == a:
                spans[-1][1] = b
            else:
                spans.append([a, b, n])
    windows = []
    for a, b, n in spans:
        if n == low:
            continue
        cut = a
        while cut < b:  # split at day boundaries so no window wraps midnight
            nxt = min(b, (cut // MINUTES_PER_DAY + 1) * MINUTES_PER_DAY)
            end = nxt % period if weekly else nxt % MINUTES_PER_DAY
            windows.append(Window(_cron(cut, weekly), _cron(end, weekly), n))
            cut = nxt
    return CronSchedule(min_replicas=low, max_replicas=high, windows=tuple(windows),
                        period="weekly" if weekly else "daily")
