"""Fictional Danish identifiers for tests (shared/DOMAIN.md section 7).

Positive CPR numbers are "improbable": a real date, a century digit consistent with the
year, and a serial that FAILS modulus 11 on a date other than 1 January, so no such number
has been issued. Exception-date numbers (1 January of a listed year, failing modulus 11) are
the real-world shape of post-2007 numbers. Modulus-11-valid numbers are made only where the
checksum path itself is tested, and never paired with names. Every list is generated from a
seeded random generator; nothing here belongs to a person.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
EXCEPTION_DATES = [
    date.fromisoformat(line.strip())
    for line in (
        Path(__file__).resolve().parents[1] / "gateway/detect/data/cpr_exception_dates.txt"
    )
    .read_text()
    .splitlines()
    if line.strip() and not line.startswith("#")
]


def century_digits(year: int) -> list[int]:
    """Digit 7 values that decode two-digit ``year`` back to ``year`` (DOMAIN.md 1.2)."""
    yy = year % 100
    digits = []
    for d in range(10):
        if d <= 3:
            full = 1900 + yy
        elif d in (4, 9):
            full = 2000 + yy if yy <= 36 else 1900 + yy
        else:
            full = 2000 + yy if yy <= 57 else 1800 + yy
        if full == year:
            digits.append(d)
    return digits


def mod11_ok(digits: str) -> bool:
    return sum(int(c) * w for c, w in zip(digits, WEIGHTS, strict=True)) % 11 == 0


def cpr(
    rng: random.Random,
    *,
    born: date | None = None,
    mod11: bool = False,
    replacement: bool = False,
    separator: str = "-",
) -> str:
    """A fictional CPR number, DDMMYY{separator}SSSS."""
    if born is None:
        born = date(1920, 1, 2) + timedelta(days=rng.randrange(0, 365 * 100))
        if born.month == 1 and born.day == 1:
            born += timedelta(days=1)
    day = born.day + (60 if replacement else 0)
    head = f"{day:02d}{born.month:02d}{born.year % 100:02d}"
    choices = century_digits(born.year)
    while True:
        serial = f"{rng.choice(choices)}{rng.randrange(1000):03d}"
        if mod11_ok(head + serial) == mod11:
            return f"{head}{separator}{serial}"


def exception_cpr(rng: random.Random, separator: str = "-") -> str:
    """A number on a listed 1-January exception date that fails modulus 11."""
    return cpr(rng, born=rng.choice(EXCEPTION_DATES), separator=separator)


def invalid_date_number(rng: random.Random) -> str:
    """Ten digits shaped like a CPR number whose date cannot exist."""
    day, month = rng.choice([(30, 2), (31, 4), (0, 5), (12, 13), (32, 1), (31, 11)])
    return f"{day:02d}{month:02d}{rng.randrange(100):02d}{rng.randrange(10000):04d}"


def date_valid_ten_digits(rng: random.Random) -> str:
    """A date-valid ten-digit run (the hard negatives: order numbers and the like)."""
    return cpr(rng, mod11=rng.random() < 0.5, separator="")


def cvr(rng: random.Random) -> str:
    weights = (2, 7, 6, 5, 4, 3, 2, 1)
    while True:
        digits = str(rng.randrange(10_000_000, 100_000_000))
        if sum(int(c) * w for c, w in zip(digits, weights, strict=True)) % 11 == 0:
            return digits


def iban_dk(rng: random.Random) -> str:
    bban = f"{rng.randrange(1000, 10000)}{rng.randrange(10**9, 10**10)}"
    rearranged = int(bban + "132000")  # "DK00" moved to the end: D=13, K=20
    check = 98 - rearranged % 97
    return f"DK{check:02d}{bban}"


def group4(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def phone(rng: random.Random) -> str:
    number = f"{rng.randrange(2, 10)}{rng.randrange(10**7):07d}"
    style = rng.randrange(3)
    if style == 0:
        return " ".join(number[i : i + 2] for i in range(0, 8, 2))
    if style == 1:
        return "+45 " + number
    return number


def ean13(rng: random.Random) -> str:
    body = f"57{rng.randrange(10**10):010d}"
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)
