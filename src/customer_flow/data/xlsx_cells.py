"""How an XLSX cell's stored text becomes the string the import reads: openpyxl's rules
(``load_workbook(read_only=True, data_only=True)``), reproduced so that ``data.xlsx`` renders
every cell as the openpyxl reader did, then ``sources._cell``'s rendering of the value.

- numbers: ``"."``/``"e"`` make a float, else an int; a whole float under 2^53 prints as an int;
- a number in a date or duration style (``xl/styles.xml``) is an Excel serial: a ``datetime``,
  ``time`` or ``timedelta`` (1900 and 1904 epochs, Excel's 1900 leap-year bug included);
- ``t="d"`` cells are ISO 8601; booleans are ``TRUE``/``FALSE``; errors stay as written.

The tests compare this with openpyxl itself on xlsxwriter-made files.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

__all__ = [
    "BUILTIN_FORMATS",
    "MAC_EPOCH",
    "WINDOWS_EPOCH",
    "from_excel",
    "from_iso8601",
    "is_date_format",
    "is_timedelta_format",
    "number",
    "render",
]

# -- number formats (openpyxl.styles.numbers, reproduced so rendering matches) ----------------

BUILTIN_FORMATS = {
    0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00",
    5: '"$"#,##0_);("$"#,##0)', 6: '"$"#,##0_);[Red]("$"#,##0)',
    7: '"$"#,##0.00_);("$"#,##0.00)', 8: '"$"#,##0.00_);[Red]("$"#,##0.00)',
    9: "0%", 10: "0.00%", 11: "0.00E+00", 12: "# ?/?", 13: "# ??/??",
    14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM",
    19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm",
    37: "#,##0_);(#,##0)", 38: "#,##0_);[Red](#,##0)", 39: "#,##0.00_);(#,##0.00)",
    40: "#,##0.00_);[Red](#,##0.00)", 41: r'_(* #,##0_);_(* \(#,##0\);_(* "-"_);_(@_)',
    42: r'_("$"* #,##0_);_("$"* \(#,##0\);_("$"* "-"_);_(@_)',
    43: r'_(* #,##0.00_);_(* \(#,##0.00\);_(* "-"??_);_(@_)',
    44: r'_("$"* #,##0.00_)_("$"* \(#,##0.00\)_("$"* "-"??_)_(@_)',
    45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0", 48: "##0.0E+0", 49: "@",
}  # fmt: skip
_STRIP_RE = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_CHAR_RE = re.compile(r"(?<![_\\])[dmhysDMHYS]")
_TIMEDELTA_RE = re.compile(r"\[hh?\](:mm(:ss(\.0*)?)?)?|\[mm?\](:ss(\.0*)?)?|\[ss?\](\.0*)?", re.I)


def is_date_format(fmt: str | None) -> bool:
    if fmt is None:
        return False
    return _DATE_CHAR_RE.search(_STRIP_RE.sub("", fmt.split(";")[0])) is not None


def is_timedelta_format(fmt: str | None) -> bool:
    return fmt is not None and _TIMEDELTA_RE.search(fmt.split(";")[0]) is not None


# -- value rendering (openpyxl's WorkSheetParser.parse_cell, then data._cell) -------------------

WINDOWS_EPOCH = datetime(1899, 12, 30)
MAC_EPOCH = datetime(1904, 1, 1)
_ISO_REGEX = re.compile(
    r"""
(?P<date>(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2}))?T?
(?P<time>(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(?P<microsecond>\.\d{1,3})?)?)?Z?""",
    re.VERBOSE,
)
_ISO_DURATION = re.compile(
    r"PT((?P<hours>\d+)H)?((?P<minutes>\d+)M)?((?P<seconds>\d+(\.\d{1,3})?)S)?"
)


def number(text: str) -> int | float:
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


def from_excel(value: float, epoch: datetime, as_timedelta: bool) -> datetime | time | timedelta:
    if as_timedelta:
        td = timedelta(days=value)
        if td.microseconds:
            td = timedelta(seconds=td.total_seconds() // 1, microseconds=round(td.microseconds, -3))
        return td
    day, fraction = divmod(value, 1)
    diff = timedelta(milliseconds=round(fraction * 86400 * 1000))
    if 0 <= value < 1 and diff.days == 0:
        mins, seconds = divmod(diff.seconds, 60)
        hours, mins = divmod(mins, 60)
        return time(hours, mins, seconds, diff.microseconds)
    if 0 < value < 60 and epoch == WINDOWS_EPOCH:
        day += 1
    return epoch + timedelta(days=day) + diff


def from_iso8601(text: str) -> date | datetime | time | timedelta:
    match = _ISO_REGEX.match(text)
    if match and any(match.groups()):
        parts: dict[str, Any] = match.groupdict(0)
        for key in ("year", "month", "day", "hour", "minute", "second"):
            if parts[key]:
                parts[key] = int(parts[key])
        if parts["microsecond"]:
            parts["microsecond"] = int(float(parts["microsecond"]) * 1_000_000)
        if not parts["date"]:
            return time(parts["hour"], parts["minute"], parts["second"], parts["microsecond"])
        if not parts["time"]:
            return date(parts["year"], parts["month"], parts["day"])
        del parts["time"], parts["date"]
        return datetime(**parts)
    match = _ISO_DURATION.match(text)
    if match and any(match.groups()):
        return timedelta(**{k: float(v) for k, v in match.groupdict(0).items() if v})
    raise ValueError(f"invalid ISO 8601 date {text[:40]!r}")


def render(value: Any) -> str | None:
    """``data._cell``: the string a cell's value becomes."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value)
    return text if text != "" else None
