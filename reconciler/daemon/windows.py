"""Sync windows (Argo CD's SyncWindows): cron-scheduled periods when the daemon may or may not apply.

Semantics follow Argo CD (https://argo-cd.readthedocs.io/en/stable/user-guide/sync_windows/): a
window applies to the gateways its globs match; an active `deny` window blocks applies, and so does
being outside every `allow` window when the gateway has some; deny wins over allow; no matching
window means applies are allowed. `manualSync: true` lets a manual sync (`POST /sync`,
`reconciler sync`) through the windows that would block it. Blocked means "detect only": drift is
still found and reported, never healed.

Pure: `window_state` takes the clock as an argument. Cron expressions are parsed by APScheduler's
`CronTrigger` (5 fields, as crontab), not by hand.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_FIRES = 100_000
"""Bound on the cron fires scanned for one window (a `* * * * *` schedule with a 60-day duration)."""


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_weekdays(field: str) -> str:
    """The day-of-week field with crontab's numbers (0 or 7 = Sunday) turned into names.

    APScheduler 3 numbers weekdays from Monday = 0 (its `from_crontab` warns about it, issue 286),
    so `1-5` would mean Tuesday to Saturday; names mean the same to both, and ranges are listed out
    because `sun-sat` is not a range for APScheduler.
    """
    out: list[str] = []
    for item in field.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else None
        if step_text and step is None:
            return field  # let CronTrigger report it
        if body == "*":
            first, last = 0, 6
        elif re.fullmatch(r"[0-7]-[0-7]", body):
            first, last = int(body[0]), int(body[2])
        elif re.fullmatch(r"[0-7]", body):
            first = last = int(body)
            if step is not None:
                last = 6
        elif re.search(r"\d", body):
            return field  # out of range: CronTrigger's error names it
        else:
            out.append(item)  # names (mon-fri) mean the same in both
            continue
        if first > last:
            return field
        names = [_WEEKDAYS[n] for n in range(first, last + 1, step or 1)]
        out.extend(dict.fromkeys(names))
    return ",".join(dict.fromkeys(out))


def cron_trigger(schedule: str, zone: tzinfo | str) -> CronTrigger:
    """A 5-field crontab expression as an APScheduler trigger, with crontab's weekday numbers."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 cron fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(weekday),
                       timezone=zone)


def parse_duration(text: str) -> timedelta:
    """`1h`, `30m`, `1h30m`, `2d` (Argo CD's notation); at least one minute."""
    compact = text.strip().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"duration {text!r}: expected e.g. 30m, 1h, 1h30m, 2d")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(compact))
    if seconds < 60:
        raise ValueError(f"duration {text!r}: at least 1m")
    return timedelta(seconds=seconds)


class SyncWindow(BaseModel):
    """One window, as written in the daemon settings (the key names are Argo CD's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: Literal["allow", "deny"]
    schedule: str = Field(description="cron, 5 fields (minute hour day-of-month month day-of-week)")
    duration: str = Field(description="how long the window stays open after each start: 30m, 1h, 2d")
    gateways: tuple[str, ...] = Field(default=("*",), min_length=1, description="gateway name globs")
    manualSync: bool = False
    timeZone: str = "UTC"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            cron_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"schedule {value!r}: {exc}") from None
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("timeZone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timeZone {value!r}: not a known IANA time zone") from None
        return value

    @cached_property
    def trigger(self) -> CronTrigger:
        return cron_trigger(self.schedule, self.zone)

    @cached_property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timeZone)

    @cached_property
    def length(self) -> timedelta:
        return parse_duration(self.duration)

    def matches(self, gateway: str) -> bool:
        return any(fnmatch.fnmatchcase(gateway, pattern) for pattern in self.gateways)

    def describe(self) -> str:
        return f"{self.kind} window '{self.schedule}' for {self.duration} ({self.timeZone})"

    def open_until(self, now: datetime) -> datetime | None:
        """The end of the window's current opening, or None when it is closed at `now`."""
        start = now - self.length
        fire = self.trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
        end: datetime | None = None
        for _ in range(MAX_FIRES):
            if fire is None or fire > now:
                break
            end = fire + self.length  # a later start inside the opening extends it
            fire = self.trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return end

    def next_open(self, now: datetime) -> datetime | None:
        fire: datetime | None = self.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
        return fire


@dataclass(frozen=True)
class WindowState:
    allowed: bool
    reason: str
    """Why (the window named), for logs, `/status` and notifications."""
    until: datetime | None = None
    """When this verdict may change (a deny window closes, an allow window opens); None: not by a window."""


def window_state(windows: Iterable[SyncWindow], now: datetime, gateway: str, *, manual: bool = False) -> WindowState:
    """May the daemon apply to `gateway` at `now` (timezone-aware)? `manual`: a `POST /sync`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    mine = [w for w in windows if w.matches(gateway)]
    if not mine:
        return WindowState(True, "no sync window applies")
    denies = [(w, end) for w in mine if w.kind == "deny" and (end := w.open_until(now)) is not None]
    allows = [w for w in mine if w.kind == "allow"]
    open_allows = [(w, end) for w in allows if (end := w.open_until(now)) is not None]
    if denies:
        if manual and all(w.manualSync for w, _ in denies):
            return WindowState(True, f"manual sync allowed by {denies[0][0].describe()}")
        window, _ = denies[0]
        until = max(end for _, end in denies)
        return WindowState(False, f"{window.describe()} is open until {until.isoformat()}", until)
    if allows and not open_allows:
        if manual and any(w.manualSync for w in allows):
            return WindowState(True, "manual sync allowed outside the allow windows (manualSync)")
        starts = [s for w in allows if (s := w.next_open(now)) is not None]
        opens = min(starts) if starts else None
        when = f"; the next opens at {opens.isoformat()}" if opens else ""
        return WindowState(False, f"outside every allow window{when}", opens)
    if open_allows:
        window, end = open_allows[0]
        return WindowState(True, f"inside {window.describe()} until {end.isoformat()}")
    return WindowState(True, "no deny window is open")
