"""Java `DateTimeFormatter` patterns (as ksqlDB's date/time functions take them), formatting and
parsing epoch milliseconds. Supported letters: y u M L d D H h k K m s S a E X x Z z and quoted
literals ('T', '' for a quote)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

_LETTERS = set("yuMLdDHhkKmsSaEXxZzGVn")


@lru_cache(maxsize=256)
def tokens(pattern: str) -> tuple[tuple[str, str], ...]:
    """The pattern as (kind, text) tokens: kind is a letter run's letter or '' for a literal."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            j = i + 1
            lit = []
            while j < len(pattern):
                if pattern[j] == "'":
                    if j + 1 < len(pattern) and pattern[j + 1] == "'":
                        lit.append("'")
                        j += 2
                        continue
                    break
                lit.append(pattern[j])
                j += 1
            out.append(("", "".join(lit) if lit or j > i + 1 else "'"))
            i = j + 1
        elif ch in _LETTERS:
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            out.append((ch, pattern[i:j]))
            i = j
        else:
            out.append(("", ch))
            i += 1
    return tuple(out)


def zone(name: str | None) -> tzinfo:
    if not name or name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", name)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    return ZoneInfo(name)


def _offset(dt: datetime, run: str, letter: str) -> str:
    off = dt.utcoffset() or timedelta(0)
    total = int(off.total_seconds() // 60)
    if total == 0 and letter == "X":
        return "Z"
    sign = "+" if total >= 0 else "-"
    h, m = divmod(abs(total), 60)
    if letter == "Z":
        return f"{sign}{h:02d}{m:02d}" if len(run) < 4 else f"GMT{sign}{h:02d}:{m:02d}"
    if len(run) == 1:
        return f"{sign}{h:02d}" + (f"{m:02d}" if m else "")
    if len(run) == 2:
        return f"{sign}{h:02d}{m:02d}"
    return f"{sign}{h:02d}:{m:02d}"


def format_ms(ms: int, pattern: str, tz: str | None = None) -> str:
    dt = datetime.fromtimestamp(ms // 1000, tz=zone(tz)) + timedelta(milliseconds=ms % 1000)
    out: list[str] = []
    for kind, run in tokens(pattern):
        n = len(run)
        if kind == "":
            out.append(run)
        elif kind in "yu":
            out.append(f"{dt.year % 100:02d}" if n == 2 else f"{dt.year:0{n}d}")
        elif kind in "ML":
            if n >= 4:
                out.append(dt.strftime("%B"))
            elif n == 3:
                out.append(dt.strftime("%b"))
            else:
                out.append(f"{dt.month:0{n}d}")
        elif kind == "d":
            out.append(f"{dt.day:0{n}d}")
        elif kind == "D":
            out.append(f"{dt.timetuple().tm_yday:0{n}d}")
        elif kind == "H":
            out.append(f"{dt.hour:0{n}d}")
        elif kind == "k":
            out.append(f"{dt.hour or 24:0{n}d}")
        elif kind == "h":
            out.append(f"{(dt.hour % 12) or 12:0{n}d}")
        elif kind == "K":
            out.append(f"{dt.hour % 12:0{n}d}")
        elif kind == "m":
            out.append(f"{dt.minute:0{n}d}")
        elif kind == "s":
            out.append(f"{dt.second:0{n}d}")
        elif kind == "S":
            frac = f"{dt.microsecond:06d}" + "000"
            out.append(frac[:n])
        elif kind == "n":
            out.append(str(dt.microsecond * 1000))
        elif kind == "a":
            out.append("AM" if dt.hour < 12 else "PM")
        elif kind == "E":
            out.append(dt.strftime("%A") if n >= 4 else dt.strftime("%a"))
        elif kind in "XxZ":
            out.append(_offset(dt, run, kind))
        elif kind == "z":
            out.append(dt.tzname() or "UTC")
        elif kind == "V":
            out.append(str(getattr(dt.tzinfo, "key", "UTC")))
        elif kind == "G":
            out.append("AD")
    return "".join(out)


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}


@lru_cache(maxsize=256)
def _parser(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    parts: list[str] = []
    groups: list[str] = []
    for kind, run in tokens(pattern):
        n = len(run)
        if kind == "":
            parts.append(re.escape(run))
            continue
        g = f"g{len(groups)}"
        groups.append(kind + str(n))
        if kind in "yu":
            rx = r"\d{2}" if n == 2 else r"[+-]?\d{4,9}"
        elif kind in "ML" and n >= 3:
            rx = r"[A-Za-z]+"
        elif kind in "ML" or kind in "dHhkKms":
            rx = r"\d{1,2}" if n == 1 else rf"\d{{{n}}}"
        elif kind == "D":
            rx = r"\d{1,3}"
        elif kind == "S":
            rx = rf"\d{{1,{max(n, 9)}}}"
        elif kind == "a":
            rx = r"[AaPp][Mm]"
        elif kind == "E":
            rx = r"[A-Za-z]+"
        elif kind in "XxZ":
            rx = r"Z|[+-]\d{2}(?::?\d{2})?|GMT[+-]\d{2}:\d{2}"
        elif kind in "zV":
            rx = r"[A-Za-z_/+\-0-9]+"
        else:
            rx = r".+?"
        parts.append(f"(?P<{g}>{rx})")
    return re.compile("".join(parts), re.IGNORECASE), tuple(groups)


def parse_ms(text: str, pattern: str, tz: str | None = None) -> int:
    """Parse `text` with `pattern`; missing fields default to 1970-01-01T00:00:00 in `tz`."""
    rx, groups = _parser(pattern)
    m = rx.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"Text '{text}' could not be parsed with pattern '{pattern}'")
    year, month, day, hour, minute, second, micro = 1970, 1, 1, 0, 0, 0, 0
    pm: bool | None = None
    zone_info: tzinfo = zone(tz)
    for i, spec in enumerate(groups):
        v = m.group(f"g{i}")
        kind, n = spec[0], int(spec[1:])
        if kind in "yu":
            year = 2000 + int(v) if n == 2 else int(v)
        elif kind in "ML":
            month = int(v) if v.isdigit() else _MONTHS[v[:3].lower()]
        elif kind == "d":
            day = int(v)
        elif kind in "Hk":
            hour = int(v) % 24
        elif kind in "hK":
            hour = int(v) % 12
        elif kind == "m":
            minute = int(v)
        elif kind == "s":
            second = int(v)
        elif kind == "S":
            micro = int((v + "000000")[:6])
        elif kind == "a":
            pm = v.upper() == "PM"
        elif kind in "XxZ":
            zone_info = UTC if v.upper() == "Z" else zone(v.replace("GMT", ""))
        elif kind in "zV":
            zone_info = zone(v)
    if pm is not None:
        hour = hour % 12 + (12 if pm else 0)
    dt = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone_info)
    return int(dt.timestamp()) * 1000 + micro // 1000
