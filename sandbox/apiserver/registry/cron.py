"""Cron schedules as the CronJob validator parses them: robfig/cron/v3's standard parser (five
fields or a descriptor), returning the parser's own error text."""

from __future__ import annotations

import re
import zoneinfo

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
# minute, hour, day of month, month, day of week: (min, max, names).
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DURATION = re.compile(r"[-+]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+")


class CronError(ValueError):
    """A schedule the parser refuses; the message is the parser's."""


def _atoi(text: str) -> int:
    """strconv.Atoi, with its error text."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CronError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    return int(text)


def _non_negative(text: str) -> int:
    number = _atoi(text)
    if number < 0:
        raise CronError(f"negative number ({number}) not allowed: {text}")
    return number


def _int_or_name(text: str, names: dict[str, int] | None) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    return _non_negative(text)


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _non_negative(range_and_step[1])
        if len(low_and_high) == 1:
            end = high
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")


def _duration(descriptor: str, text: str) -> None:
    """time.ParseDuration's acceptance, with its error text."""
    if text == "0" or _DURATION.fullmatch(text):
        return
    if re.fullmatch(r"[-+]?[0-9.]+", text):
        why = f'time: missing unit in duration "{text}"'
    elif match := re.fullmatch(r"[-+]?[0-9.]+([^0-9.]+).*", text):
        why = f'time: unknown unit "{match[1]}" in duration "{text}"'
    else:
        why = f'time: invalid duration "{text}"'
    raise CronError(f"failed to parse duration {descriptor}: {why}")


def parse_standard(spec: str) -> None:
    """cron.ParseStandard: raise CronError with the parser's message if ``spec`` is not one."""
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, rest = spec.partition(" ")
        location = head.split("=", 1)[1]
        if not valid_location(location):
            raise CronError(f"provided bad location {location}: unknown time zone {location}")
        spec = rest.strip()
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return
        if spec.startswith("@every "):
            _duration(spec, spec[len("@every ") :])
            return
        raise CronError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != len(_BOUNDS):
        raise CronError(
            f"expected exactly {len(_BOUNDS)} fields, found {len(fields)}: [{' '.join(fields)}]"
        )
    for text, (low, high, names) in zip(fields, _BOUNDS, strict=True):
        for expr in (part for part in text.split(",") if part):
            _range(expr, low, high, names)


def valid_location(name: str) -> bool:
    """time.LoadLocation succeeds ("UTC", "Local" and the IANA names)."""
    if name in ("", "UTC", "Local"):
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
