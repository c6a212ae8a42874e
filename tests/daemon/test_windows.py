"""Sync windows at fixed times: `window_state` is pure, the clock is an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from reconciler.daemon.settings import SettingsError, load_settings
from reconciler.daemon.windows import SyncWindow, crontab_weekdays, parse_duration, window_state

NIGHT = SyncWindow(kind="deny", schedule="0 22 * * *", duration="8h")
"""No applies from 22:00 to 06:00 UTC."""
OFFICE = SyncWindow(kind="allow", schedule="0 9 * * 1-5", duration="8h", gateways=("kong-*",))
"""Kong gateways: applies only 09:00-17:00, Monday to Friday."""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)  # 2024-01-01 is a Monday


def test_a_deny_window_opens_at_its_start_and_closes_at_start_plus_duration() -> None:
    assert window_state([NIGHT], at(1, 21, 59), "stoa").allowed
    start = window_state([NIGHT], at(1, 22), "stoa")
    assert not start.allowed and start.until == at(2, 6)
    assert "deny window '0 22 * * *'" in start.reason and "2024-01-02T06:00:00+00:00" in start.reason
    assert not window_state([NIGHT], at(2, 5, 59), "stoa").allowed  # across midnight
    assert window_state([NIGHT], at(2, 6), "stoa").allowed  # the end is not part of the window


def test_allow_windows_deny_outside_them_and_say_when_the_next_opens() -> None:
    saturday = window_state([OFFICE], at(6, 10), "kong-prod")
    assert not saturday.allowed and saturday.until == at(8, 9)  # crontab 1-5 is Monday-Friday
    assert "next opens at 2024-01-08T09:00:00+00:00" in saturday.reason
    friday = window_state([OFFICE], at(5, 16, 59), "kong-prod")
    assert friday.allowed and "until 2024-01-05T17:00:00+00:00" in friday.reason
    assert not window_state([OFFICE], at(5, 17), "kong-prod").allowed
    assert window_state([OFFICE], at(6, 10), "stoa-dev").allowed  # the glob does not match: no window applies


def test_deny_wins_over_an_open_allow_window_and_manual_sync_needs_manualsync() -> None:
    freeze = SyncWindow(kind="deny", schedule="0 12 * * *", duration="1h", gateways=("kong-prod",))
    lunch = window_state([OFFICE, freeze], at(3, 12, 30), "kong-prod")
    assert not lunch.allowed and lunch.until == at(3, 13)
    assert not window_state([OFFICE, freeze], at(3, 12, 30), "kong-prod", manual=True).allowed
    manual_ok = freeze.model_copy(update={"manualSync": True})
    assert window_state([OFFICE, manual_ok], at(3, 12, 30), "kong-prod", manual=True).allowed
    assert not window_state([OFFICE, manual_ok], at(3, 12, 30), "kong-prod").allowed  # the daemon's own: still no
    assert window_state([OFFICE, freeze], at(3, 12, 30), "kong-dev").allowed


def test_overlapping_starts_extend_a_window_and_time_zones_are_honoured() -> None:
    hourly = SyncWindow(kind="deny", schedule="0 * * * *", duration="90m")
    assert window_state([hourly], at(1, 10, 45), "x").until == at(1, 11, 30)  # the 10:00 start ends later than 09:00's
    paris = SyncWindow(kind="deny", schedule="0 9 * * *", duration="1h", timeZone="Europe/Paris")
    assert not window_state([paris], at(1, 8, 30), "x").allowed  # 09:30 in Paris (UTC+1 in January)
    assert window_state([paris], at(1, 9, 30), "x").allowed
    in_paris = datetime(2024, 1, 1, 9, 15, tzinfo=ZoneInfo("Europe/Paris"))
    assert not window_state([paris], in_paris, "x").allowed
    with pytest.raises(ValueError, match="timezone-aware"):
        window_state([paris], datetime(2024, 1, 1, 9), "x")


def test_crontab_weekday_numbers_are_crontabs_not_apschedulers() -> None:
    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("0") == crontab_weekdays("7") == "sun"
    assert crontab_weekdays("5-7") == "fri,sat,sun"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("mon-fri") == "mon-fri"
    sunday = SyncWindow(kind="deny", schedule="0 0 * * 0", duration="1d")
    assert not window_state([sunday], at(7, 12), "x").allowed and window_state([sunday], at(6, 12), "x").allowed


def test_bad_windows_are_refused_with_the_setting_named() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    for bad in ("", "90", "1x", "30s"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    with pytest.raises(ValidationError, match="5 cron fields"):
        SyncWindow(kind="deny", schedule="0 22 * *", duration="1h")
    with pytest.raises(ValidationError, match="higher than the maximum"):
        SyncWindow(kind="deny", schedule="0 25 * * *", duration="1h")
    with pytest.raises(ValidationError, match="time zone"):
        SyncWindow(kind="deny", schedule="0 2 * * *", duration="1h", timeZone="Mars/Olympus")
    base = {"RECONCILER_GIT_URL": "https://git.example.com/x.git"}
    with pytest.raises(SettingsError, match=r"sync_windows\.0\.duration \(RECONCILER_SYNC_WINDOWS\)"):
        load_settings(None, {**base, "RECONCILER_SYNC_WINDOWS": '[{"kind": "deny", "schedule": "0 2 * * *", '
                                                                '"duration": "forever"}]'})
    settings = load_settings(None, {**base, "RECONCILER_SYNC_WINDOWS": '[{"kind": "allow", "schedule": "0 9 * * 1-5", '
                                                                       '"duration": "8h", "gateways": ["kong-*"]}]'})
    assert settings.sync_windows == (OFFICE,)
