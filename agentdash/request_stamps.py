"""A request log's date and time, read fast: a log of millions of rows spends most of its
import here, so a stamp is taken apart by one regular expression and whole-number arithmetic
(its day looked up once), not built as a datetime."""

from __future__ import annotations

import re
from datetime import date

from agentdash.flags import FIRST_DAY, LAST_DAY
from controller.core.config import ConfigError
from controller.core.config_errors import shown

DAY_SECONDS = 86_400
FIRST, LAST = FIRST_DAY.toordinal(), LAST_DAY.toordinal()
EPOCH = date(1970, 1, 1).toordinal()
_STAMP = re.compile(
    r"\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2}))?\s*"
)
EXPECTED = "a date and time like 2023-11-16 18:17:03.9799600"


class Stamps:
    """Reads the stamps of one log: each as seconds from the midnight UTC of `day0`, the
    Unix day of the first one read (a later row's may be before it: a log out of order)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.day0: int | None = None
        self._days: dict[str, int | None] = {}

    def seconds(self, text: str, field: str) -> float:
        """The stamp `text` (without a zone, UTC; a fraction finer than a microsecond, as the
        2023 trace's seven digits, cut) as seconds from day0's midnight UTC."""
        found = _STAMP.fullmatch(text)
        if found is None:
            raise ConfigError(self.source, field, f"expected {EXPECTED}, got {shown(text)}")
        day, hour, minute, second, fraction, _, sign, zone_h, zone_m = found.groups()
        ordinal = self._ordinal(day)
        hours, minutes, secs = int(hour), int(minute), int(second)
        if ordinal is None or hours > 23 or minutes > 59 or secs > 59:
            raise ConfigError(self.source, field, f"expected {EXPECTED}, got {shown(text)}")
        within = hours * 3600 + minutes * 60 + secs
        if sign is not None:
            offset_h, offset_m = int(zone_h), int(zone_m)
            if offset_h > 23 or offset_m > 59:
                raise ConfigError(self.source, field, f"expected {EXPECTED}, got {shown(text)}")
            offset = offset_h * 3600 + offset_m * 60
            within += -offset if sign == "+" else offset
        utc_day = ordinal + within // DAY_SECONDS
        if not FIRST <= utc_day <= LAST:
            expected = f"a date and time from {FIRST_DAY} to {LAST_DAY} UTC"
            said = f"expected {expected} (the days simulate --start takes), got {shown(text)}"
            raise ConfigError(self.source, field, said)
        if self.day0 is None:
            self.day0 = utc_day - EPOCH
        whole = (ordinal - EPOCH - self.day0) * DAY_SECONDS + within
        micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
        return whole + micros / 1_000_000

    def _ordinal(self, day: str) -> int | None:
        """The proleptic ordinal of `day`, YYYY-MM-DD, or None for no such date: once a day."""
        if day not in self._days:
            try:
                self._days[day] = date.fromisoformat(day).toordinal()
            except ValueError:
                self._days[day] = None
        return self._days[day]
