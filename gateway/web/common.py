"""What every page of the staff page shares: the running gateway's context, the words and
the rendering, the logged-in user and the role check (with the CSRF check of every POST),
safe redirects, the checked query, and times and cells as a page or a CSV shows them.

A session is a signed cookie naming the user and the account's session version; the version
is checked against the store on every request, so logging out, a new password or a disabled
account ends every copy of the cookie at once. Every page but /login, /healthz and /metrics
needs a login; staff see their mailboxes only; every view and action is audited
(gateway.store.review). The pages are one module each, and each lists its routes (ROUTES);
gateway.web.app assembles them."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from gateway.cleantext import visible
from gateway.decide.holder import PolicyHolder
from gateway.metrics import Metrics
from gateway.model import Preview, Reply
from gateway.store import Store, StoreUnavailable, review
from gateway.store.users import User, find_user
from gateway.web.auth import csrf_ok, new_csrf_token
from gateway.web.i18n import LANGUAGES, WORDS, Words

if TYPE_CHECKING:
    from gateway.act.digital_post import Desk

ZONE = ZoneInfo("Europe/Copenhagen")


@dataclass
class WebContext:
    """What the staff page needs from the running gateway."""

    store: Store
    policy: PolicyHolder
    templates: Jinja2Templates
    metrics: Metrics
    release: Callable[[str], Awaitable[Reply]] | None = None
    # The masked text of a held message and its attachments
    # (gateway.reader_pool.preview_message), if a detector runs.
    preview: Callable[[bytes], Awaitable[Preview]] | None = None
    zone: ZoneInfo = ZONE
    in_flight: Callable[[], int] = lambda: 0
    # /healthz: why the next message would not be handled (gateway.health); None: the
    # database alone is asked.
    health: Callable[[], Awaitable[list[str]]] | None = None
    user_header: str | None = None
    trusted_proxies: list[str] = field(default_factory=list)
    # Answers through Digital Post (gateway.web.answer); None: not set up.
    digital_post: Desk | None = None
    # /metrics: on an address of its own (and not here), behind a bearer token (gateway.settings).
    metrics_elsewhere: bool = False
    metrics_token: str | None = None
    # Password checks at once: bounded CPU during a login flood.
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


def ctx(request: Request) -> WebContext:
    context = request.app.state.web
    assert isinstance(context, WebContext)
    return context


def language(request: Request) -> str:
    lang = request.session.get("lang")
    return lang if lang in LANGUAGES else "da"


def start_session(request: Request, user: User, **extra: Any) -> None:
    """A fresh session for a user who just logged in (no fixation: nothing of the session
    before survives but the page language), with its own CSRF token."""
    lang = language(request)
    request.session.clear()
    request.session.update(
        {"user": user.name, "v": user.session_version, "csrf": new_csrf_token(), "lang": lang}
        | extra
    )


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


def words(request: Request) -> Words:
    return WORDS[language(request)]


def render(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    lang = language(request)
    return ctx(request).templates.TemplateResponse(
        request,
        template,
        {
            "t": WORDS[lang],
            "lang": lang,
            "csrf": csrf_token(request),
            "zone": ctx(request).zone,
            "disposition": review.disposition,
            **values,
        },
        status_code=status,
    )


def _proxy_user(request: Request) -> str | None:
    context = ctx(request)
    if not context.user_header or request.client is None:
        return None
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:
        return None
    if not any(peer in ipaddress.ip_network(n, strict=False) for n in context.trusted_proxies):
        return None
    values = request.headers.getlist(context.user_header)
    # Exactly one: a proxy that appends instead of replacing would let the client's win.
    return values[0] if len(values) == 1 and values[0] else None


async def current_user(request: Request) -> User | None:
    """The logged-in user, looked up on every request: a disabled account, a new password or
    a logout elsewhere (a newer session version) ends this session at once."""
    proxied = _proxy_user(request)
    if proxied is not None:
        return await ctx(request).store.run(find_user, proxied)
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    user = await ctx(request).store.run(find_user, name)
    if user is None or request.session.get("v") != user.session_version:
        return None
    return user


STAFF_ROLES = ("staff", "admin")
ALL_ROLES = ("staff", "admin", "dpo")


def login_required(
    handler: Callable[[Request, User], Awaitable[Response]],
    roles: tuple[str, ...] = STAFF_ROLES,
) -> Callable[[Request], Awaitable[Response]]:
    """A page for logged-in users of ``roles``: staff and admins unless said otherwise, so
    a page added later shows no mail to a DPO by mistake (gateway.store.users.ROLES)."""

    async def wrapped(request: Request) -> Response:
        user = await current_user(request)
        if user is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if user.role not in roles:
            if request.url.path == "/" and request.method == "GET":
                return RedirectResponse("/audit", status_code=303)  # a DPO's first page
            message = words(request)["role.refused"]
            return render(request, "error.html", 403, message=message, user=user)
        if request.method == "POST":
            form = await request.form()
            if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
                return render(request, "error.html", 403, message=words(request)["csrf"])
        try:
            return await handler(request, user)
        except review.NotFound:
            return render(request, "error.html", 404, message=words(request)["not_found"])
        except StoreUnavailable:
            return render(request, "error.html", 503, message="database unavailable")

    return wrapped


def for_roles(
    *roles: str,
) -> Callable[
    [Callable[[Request, User], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]
]:
    """``login_required`` for other roles than staff and admins (the DPO's pages)."""
    return lambda handler: login_required(handler, roles)


def safe_next(target: str | None) -> str:
    # Only our own paths: never an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# Query parameters are typed into the address bar as easily as chosen in the form: each is
# checked, a bad one is left out and said in words (400), never a 500 with a stack.
MAX_PAGE = 1_000_000
PAGE = re.compile(r"[0-9]{1,7}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
EARLIEST = date(1900, 1, 1)


class Query:
    """The checked query of a staff page: ``valid`` holds what was used, ``problems`` the
    words (keys of gateway/web/words/*.yaml) for what was left out."""

    def __init__(self, query: Any) -> None:
        self._query = query
        self.valid: dict[str, str] = {}
        self.problems: list[str] = []

    def problem(self, key: str) -> None:
        if key not in self.problems:
            self.problems.append(key)

    def text(self, name: str, limit: int = 200) -> str | None:
        value = CONTROL.sub(" ", self._query.get(name) or "").strip()[:limit]
        if value:
            self.valid[name] = value
        return value or None

    def choice(self, name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
        value = self._query.get(name) or None
        if value is None:
            return None
        if value not in allowed:
            self.problem("query.unknown")
            return None
        self.valid[name] = value
        return value

    def day(self, name: str) -> date | None:
        value = self._query.get(name) or None
        if value is None:
            return None
        try:
            day = datetime.strptime(value, "%Y-%m-%d").date() if DAY.fullmatch(value) else None
        except ValueError:
            day = None
        if day is None or day < EARLIEST:
            self.problem("query.date")
            return None
        self.valid[name] = value
        return day

    def number(self, name: str, pattern: re.Pattern[str], low: int, high: int) -> int | None:
        value = self._query.get(name)
        if value is None or value == "":
            return None
        if pattern.fullmatch(value) and low <= int(value) <= high:
            self.valid[name] = value
            return int(value)
        return None


def start_of(day: date | None, after: bool = False) -> datetime | None:
    """Midnight UTC at ``day`` (the day after, for an inclusive "until"; None past the
    calendar's last day: no bound)."""
    if day is None:
        return None
    if after:
        if day == date.max:
            return None
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def visible_mailboxes(request: Request, user: User) -> list[str]:
    mailboxes = [m.name for m in ctx(request).policy.current.mailboxes] + ["default"]
    return mailboxes if user.scope is None else [m for m in mailboxes if m in user.scope]


def local_time(moment: datetime | None, zone: ZoneInfo, seconds: bool = False) -> str:
    """A stored UTC time in the municipality's time, with its zone (CET/CEST)."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime(
        "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    )


UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A spreadsheet never runs a cell as a formula (CSV injection), and no cell holds a NUL,
    a line break or a bidi override (gateway.cleantext, as on the page)."""
    text = "" if value is None else visible(str(value))
    return "'" + text if text.startswith(UNSAFE_START) else text
