"""The statistics page (for every role, the DPO's too; audited): its figures, counted from
the flagged-mail log, and their charts as plain SVG geometry (drawn by templates/stats.html:
no script, nothing inline but shapes).

Only facts are counted (mailbox, entity types, reply state, protection, handling time): no
address or masked value reaches this module.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.store import review
from gateway.store.users import User
from gateway.web.common import ALL_ROLES, Query, ctx, for_roles, render, words
from gateway.web.i18n import Words

HANDLING_BUCKETS = (
    ("<1h", timedelta(hours=1)),
    ("1-4h", timedelta(hours=4)),
    ("4-24h", timedelta(days=1)),
    ("1-3d", timedelta(days=3)),
    (">3d", None),
)


@dataclass(frozen=True)
class HBar:
    label: str
    value: float
    text: str
    y: int
    width: float


@dataclass(frozen=True)
class HChart:
    bars: list[HBar]
    height: int
    label_width: int = 230
    bar_area: int = 380


def hbars(items: list[tuple[str, float, str]], maximum: float | None = None) -> HChart:
    """Horizontal bars, one per (label, value, value as text)."""
    top = maximum if maximum is not None else max((v for _, v, _ in items), default=0)
    row = 26
    bars = [
        HBar(label, value, text, 8 + i * row, 380 * value / top if top else 0)
        for i, (label, value, text) in enumerate(items)
    ]
    return HChart(bars, 16 + row * len(items))


@dataclass(frozen=True)
class Segment:
    series: int
    y: float
    height: float
    value: int


@dataclass(frozen=True)
class Column:
    label: str
    x: int
    total: int
    segments: list[Segment]


@dataclass(frozen=True)
class WeekChart:
    columns: list[Column]
    series: list[str]
    width: int
    height: int = 220
    base: int = 190
    top: int = 0


def week_chart(
    weeks: list[str], series: list[str], counts: dict[tuple[str, str], int]
) -> WeekChart:
    """Stacked columns: one per week, one segment per mailbox."""
    totals = [sum(counts.get((w, s), 0) for s in series) for w in weeks]
    top = max(totals, default=0) or 1
    columns = []
    for i, week in enumerate(weeks):
        y = 190.0
        segments = []
        for k, name in enumerate(series):
            n = counts.get((week, name), 0)
            h = 170 * n / top
            y -= h
            if n:
                segments.append(Segment(k % 6, y, h, n))
        columns.append(Column(week, 40 + i * 44, totals[i], segments))
    return WeekChart(columns, series, 60 + 44 * len(weeks), top=top)


@dataclass
class Figures:
    weeks: list[str] = field(default_factory=list)
    week_labels: dict[str, str] = field(default_factory=dict)
    mailboxes: list[str] = field(default_factory=list)
    per_week: dict[tuple[str, str], int] = field(default_factory=dict)
    entities: list[tuple[str, int]] = field(default_factory=list)
    replies: list[tuple[str, int]] = field(default_factory=list)
    total: int = 0
    encrypted: int = 0
    signed: int = 0
    tls: int = 0
    handled: int = 0
    still_open: int = 0
    median: timedelta | None = None
    p90: timedelta | None = None
    handling: list[tuple[str, int]] = field(default_factory=list)


def week_of(moment: datetime, zone: ZoneInfo) -> str:
    year, week, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def _quantile(values: list[timedelta], q: float) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def count(rows: list[Any], t: Words, zone: ZoneInfo, today: date, weeks: int) -> Figures:
    """The figures over ``weeks`` ISO weeks ending with ``today``'s."""
    figures = Figures()
    monday = today - timedelta(days=today.weekday())
    for n in range(weeks - 1, -1, -1):
        day = monday - timedelta(weeks=n)
        year, week, _ = day.isocalendar()
        key = f"{year}-W{week:02d}"
        figures.weeks.append(key)
        figures.week_labels[key] = f"{week}"
    per_week: Counter[tuple[str, str]] = Counter()
    entities: Counter[str] = Counter()
    replies: Counter[str] = Counter()
    times: list[timedelta] = []
    mailboxes: set[str] = set()
    for row in rows:
        figures.total += 1
        mailboxes.add(row.recipient_group)
        per_week[(week_of(row.received_at, zone), row.recipient_group)] += 1
        entities.update(set((row.entity_types or "").split()))
        protection = row.protection or {}
        figures.encrypted += bool(protection.get("encrypted"))
        figures.signed += bool(protection.get("signed"))
        figures.tls += bool(protection.get("tls"))
        if row.reply_state == "suppressed":
            replies[f"{t.code('reply', 'suppressed')}: {t.reply_reason(row.reply_reason)}"] += 1
        elif row.reply_state:
            replies[t.code("reply", row.reply_state)] += 1
        if row.handled_at is not None and row.journal_state != "open":
            times.append(row.handled_at - row.received_at)
        elif row.journal_state == "open":
            figures.still_open += 1
    figures.mailboxes = sorted(mailboxes)
    figures.per_week = dict(per_week)
    figures.entities = [(t.code("entity", e), n) for e, n in entities.most_common()]
    figures.replies = sorted(replies.items(), key=lambda item: -item[1])
    figures.handled = len(times)
    figures.median = _quantile(times, 0.5)
    figures.p90 = _quantile(times, 0.9)
    buckets: Counter[str] = Counter()
    for spent in times:
        for name, limit in HANDLING_BUCKETS:
            if limit is None or spent < limit:
                buckets[name] += 1
                break
    figures.handling = [(name, buckets[name]) for name, _ in HANDLING_BUCKETS]
    return figures


def duration(spent: timedelta | None, t: Words) -> str:
    if spent is None:
        return "–"
    minutes = spent.total_seconds() / 60
    if minutes < 90:
        return t["stats.minutes"].format(round(minutes))
    if minutes < 48 * 60:
        return t["stats.hours"].format(_decimal(minutes / 60, t))
    return t["stats.days"].format(_decimal(minutes / 1440, t))


def _decimal(value: float, t: Words) -> str:
    return f"{value:.1f}".replace(".", t["decimal"])


def percent(part: int, whole: int, t: Words) -> str:
    return f"{_decimal(100 * part / whole, t)} %" if whole else "–"


# -- the page ----------------------------------------------------------------------------------


PERIODS = (4, 12, 26, 52)


@for_roles(*ALL_ROLES)
async def statistics(request: Request, user: User) -> Response:
    t = words(request)
    zone = ctx(request).zone
    checked = Query(request.query_params)
    weeks = int(checked.choice("weeks", [str(n) for n in PERIODS]) or 12)
    today = datetime.now(zone).date()
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    rows = await ctx(request).store.run(review.statistics_rows, user.statistics_scope, since)
    await ctx(request).store.run(review.audit, user.name, "statistics", None, {"weeks": weeks})
    figures = await asyncio.to_thread(count, rows, t, zone, today, weeks)
    total = figures.total
    share = [
        (t["stats.encrypted"], figures.encrypted),
        (t["stats.signed"], figures.signed),
        (t["stats.tls"], figures.tls),
    ]
    return render(
        request,
        "stats.html",
        400 if checked.problems else 200,
        problems=checked.problems,
        user=user,
        weeks=weeks,
        periods=PERIODS,
        f=figures,
        week_chart=week_chart(figures.weeks, figures.mailboxes, figures.per_week),
        entity_chart=hbars([(label, n, str(n)) for label, n in figures.entities]),
        reply_chart=hbars([(label, n, str(n)) for label, n in figures.replies]),
        share=[(label, n, percent(n, total, t)) for label, n in share],
        share_chart=hbars(
            [(label, n, percent(n, total, t)) for label, n in share], maximum=total or 1
        ),
        handling_chart=hbars([(t.code("bucket", name), n, str(n)) for name, n in figures.handling]),
        median=duration(figures.median, t),
        p90=duration(figures.p90, t),
    )


ROUTES = [Route("/statistics", statistics)]
