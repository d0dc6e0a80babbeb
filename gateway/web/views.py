"""The staff page's routes. Every page but /login, /healthz and /metrics needs a login;
staff see their mailboxes only; every view and action is audited (gateway.store.review).
Bulk work, export, statistics and the masked preview are in gateway.web.work.

A session is a signed cookie naming the user and the account's session version; the version
is checked against the store on every request, so logging out, a new password or a disabled
account ends every copy of the cookie at once."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from gateway.decide.holder import PolicyHolder
from gateway.detect import entities
from gateway.metrics import Metrics
from gateway.model import Preview, Reply
from gateway.store import Store, StoreUnavailable, answers, records, retention, review
from gateway.store.tables import JOURNAL_STATES
from gateway.store.users import User, change_password, end_sessions, find_user
from gateway.web import throttle
from gateway.web.auth import csrf_ok, hash_password, new_csrf_token, verify_password
from gateway.web.i18n import LANGUAGES, WORDS, Words

if TYPE_CHECKING:
    from gateway.act.digital_post import Desk

log = logging.getLogger("postvagt.web")

ENTITY_CHOICES = tuple(e.name for e in entities.TABLE if e.staff_filter)
REPLY_STATES = ("queued", "sent", "suppressed", "failed")
# Every state a caseworker meets: the journaling's, and what became of the mail.
STATUSES = (*JOURNAL_STATES, *review.OUTCOMES)
FILTER_KEYS = ("mailbox", "status", "since", "until", "entity", "reply", "q", "sort", "order")
ZONE = ZoneInfo("Europe/Copenhagen")
MAX_BULK = 200  # mails one bulk action takes at most


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
        return await ctx(request).store.run(_find, proxied)
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    user = await ctx(request).store.run(_find, name)
    if user is None or request.session.get("v") != user.session_version:
        return None
    return user


def _find(connection: Any, name: str) -> User | None:
    return find_user(connection, name)


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


# -- login -------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    target = _safe_next(request.query_params.get("next"))
    # A valid session is never replaced here: a link from webmail or the intranet to the
    # login page (or a page behind it) lands where it points.
    if request.session.get("user") and await current_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, "login.html", next=target)


def _safe_next(target: str | None) -> str:
    # Only our own paths: never an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def login(request: Request) -> Response:
    form = await request.form()
    t = words(request)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        return render(request, "login.html", 403, error=t["csrf"], next="/")
    name = str(form.get("user", "")).strip()[:255]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    context = ctx(request)
    store = context.store
    client = throttle.client_address(request, context.trusted_proxies)
    user = await store.run(_find, name)
    # Only a real account's name goes into the audit log: a password typed into the user
    # field must not be kept for ever.
    actor = user.name if user else "(unknown user)"
    slowed = await store.run(throttle.attempt, name, client)
    if slowed.active:
        detail = {"client": client, "delay": round(slowed.delay, 2), "refused": slowed.refused}
        await store.run(review.audit, actor, "login-throttled", None, detail)
    if slowed.refused:
        return render(request, "login.html", 429, error=t["login_throttled"], next=target)
    await asyncio.sleep(slowed.delay)
    # argon2 takes ~0.1 s of CPU on purpose: never on the loop that also serves SMTP.
    async with context.hashing:
        ok = await asyncio.to_thread(
            verify_password, user.password_hash if user else None, password
        )
    if not ok or user is None:
        await store.run(review.audit, actor, "login-failed", None, {"client": client})
        return render(request, "login.html", 401, error=t["login_failed"], next=target)
    await store.run(throttle.succeeded, name, client)
    lang = language(request)
    request.session.clear()  # a fresh session at login: no fixation
    request.session.update(
        {"user": user.name, "v": user.session_version, "csrf": new_csrf_token(), "lang": lang}
    )
    await store.run(review.audit, user.name, "login", None, {"client": client})
    return RedirectResponse(target, status_code=303)


@for_roles(*ALL_ROLES)
async def logout(request: Request, user: User) -> Response:
    """Ends the account's sessions on the server (every copy of the cookie), then here."""
    await ctx(request).store.run(end_sessions, user.name)
    await ctx(request).store.run(review.audit, user.name, "logout")
    lang = language(request)
    request.session.clear()
    request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


@for_roles(*ALL_ROLES)
async def password_page(request: Request, user: User) -> Response:
    if request.method == "GET":
        return render(request, "password.html", user=user)
    t = words(request)
    form = await request.form()
    current = str(form.get("current", ""))
    new = str(form.get("new", ""))
    if new != str(form.get("again", "")):
        return render(request, "password.html", 400, user=user, error=t["password_mismatch"])
    if len(new) < 10:
        return render(request, "password.html", 400, user=user, error=t["password_short"])
    async with ctx(request).hashing:
        ok = await asyncio.to_thread(verify_password, user.password_hash, current)
        new_hash = await asyncio.to_thread(hash_password, new) if ok else ""
    if not ok:
        await ctx(request).store.run(review.audit, user.name, "password-change-failed", user.name)
        return render(request, "password.html", 403, user=user, error=t["password_wrong"])
    version = await ctx(request).store.run(change_password, user.name, new_hash)
    # Every other session has ended; this one goes on with the new version.
    request.session.update({"v": version, "csrf": new_csrf_token()})
    return render(request, "password.html", user=user, done=True)


async def set_language(request: Request) -> Response:
    code = request.path_params["code"]
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)


# -- the list and one entry --------------------------------------------------------------------


# Query parameters are typed into the address bar as easily as chosen in the form: each is
# checked, a bad one is left out and said in words (400), never a 500 with a stack.
MAX_PAGE = 1_000_000
COUNT_OF_DONE = re.compile(r"[0-9]{1,4}")
PAGE = re.compile(r"[0-9]{1,7}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
EARLIEST = date(1900, 1, 1)


class Query:
    """The checked query of a staff page: ``valid`` holds what was used, ``problems`` the
    words (keys of gateway.web.i18n) for what was left out."""

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


def _start_of(day: date | None, after: bool = False) -> datetime | None:
    """Midnight UTC at ``day`` (the day after, for an inclusive "until"; None past the
    calendar's last day: no bound)."""
    if day is None:
        return None
    if after:
        if day == date.max:
            return None
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _choice(value: str | None, allowed: tuple[str, ...] | list[str]) -> str | None:
    return value if value in allowed else None


def visible_mailboxes(request: Request, user: User) -> list[str]:
    mailboxes = [m.name for m in ctx(request).policy.current.mailboxes] + ["default"]
    return mailboxes if user.scope is None else [m for m in mailboxes if m in user.scope]


def filters_from(query: Any, mailboxes: list[str], page: int = 1) -> tuple[review.Filters, Query]:
    """The list's filters from the query, and the checked query (what was left out, why)."""
    checked = Query(query)
    since, until = checked.day("since"), checked.day("until")
    if since and until and until < since:
        checked.problem("query.dates")
        since = until = None
        checked.valid.pop("since"), checked.valid.pop("until")
    status = checked.choice("status", STATUSES)
    filters = review.Filters(
        mailbox=checked.choice("mailbox", mailboxes),
        journal_state=status if status in JOURNAL_STATES else None,
        outcome=status if status in review.OUTCOMES else None,
        since=_start_of(since),
        until=_start_of(until, after=True),
        entity=checked.choice("entity", ENTITY_CHOICES),
        reply_state=checked.choice("reply", REPLY_STATES),
        text=checked.text("q"),
        sort=checked.choice("sort", review.SORTS) or "time",
        descending=checked.choice("order", ("asc", "desc")) != "asc",
        page=page,
    )
    return filters, checked


@login_required
async def flagged_list(request: Request, user: User) -> Response:
    mailboxes = visible_mailboxes(request, user)
    filters, checked = filters_from(request.query_params, mailboxes)
    page = checked.number("page", PAGE, 1, MAX_PAGE)
    if page is None and request.query_params.get("page"):
        checked.problem("query.page")
    filters = replace(filters, page=page or 1)
    done = checked.number("done", COUNT_OF_DONE, 0, MAX_BULK)
    failed = checked.number("failed", COUNT_OF_DONE, 0, MAX_BULK)
    for name, value in (("done", done), ("failed", failed)):
        if value is None and request.query_params.get(name):
            checked.problem("query.unknown")
    store = ctx(request).store
    rows, total = await store.run(review.list_flagged, user.scope, filters)
    open_counts = await store.run(review.open_by_mailbox, user.scope)
    q = checked.valid
    shown: dict[str, object] = {k: v for k, v in q.items() if k in FILTER_KEYS and k != "q"}
    if q.get("q"):
        shown["search"] = True  # what was searched for can be a name: not kept
    await store.run(review.audit, user.name, "list", None, {**shown, "page": filters.page})
    pages = max(1, -(-total // filters.per_page))
    query = {k: v for k, v in q.items() if k in FILTER_KEYS}
    return render(
        request,
        "list.html",
        400 if checked.problems else 200,
        problems=checked.problems,
        user=user,
        rows=rows,
        total=total,
        page=filters.page,
        pages=pages,
        query=query,
        q=q,
        mailboxes=mailboxes,
        open_counts=[(m, open_counts.get(m, 0)) for m in mailboxes],
        states=STATUSES,
        entities=ENTITY_CHOICES,
        reply_states=REPLY_STATES,
        sorts=review.SORTS,
        done=-1 if done is None else done,
        failed=failed or 0,
        back=str(request.url.path) + ("?" + str(request.url.query) if request.url.query else ""),
    )


@login_required
async def detail(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    store = ctx(request).store
    row = await store.run(review.view, message_id, user.scope, user.name)
    # Answers before the history: an answer shown as sent has its audit entry below it.
    answered = await store.run(answers.for_message, message_id)
    events = await store.run(review.history, message_id)
    held = await store.run(review.quarantine_entry, message_id)
    return render(
        request,
        "detail.html",
        answers=answered,
        answered=request.query_params.get("answered") == "1",
        can_answer=ctx(request).digital_post is not None,
        user=user,
        row=row,
        events=events,
        held=held,
        states=JOURNAL_STATES,
        saved=request.query_params.get("saved") == "1",
        can_release=ctx(request).release is not None,
        can_preview=ctx(request).preview is not None,
    )


@login_required
async def mark(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    form = await request.form()
    try:
        await ctx(request).store.run(
            review.mark,
            message_id,
            user.scope,
            user.name,
            str(form.get("state", "")),
            case_number=str(form.get("case_number", "")) or None,
            note=str(form.get("note", "")) or None,
        )
    except ValueError as e:
        return render(request, "error.html", 400, message=str(e), back=f"/mail/{message_id}")
    return RedirectResponse(f"/mail/{message_id}?saved=1", status_code=303)


@login_required
async def release(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    context = ctx(request)
    await context.store.run(review.get_flagged, message_id, user.scope)
    if context.release is None:
        return render(request, "error.html", 400, message="release is not available here")
    reply = await context.release(message_id)
    if not reply.positive:
        # The reply text can name a recipient: the audit log, kept longest, gets the code.
        await context.store.run(
            review.audit, user.name, "release-refused", message_id, {"upstream": reply.code}
        )
        return render(request, "error.html", 502, message=f"upstream: {reply}")
    await context.store.run(review.mark_released, message_id, user.name, str(reply))
    return RedirectResponse(f"/mail/{message_id}?saved=1", status_code=303)


async def forget_held(request: Request, user: User, message_id: str) -> None:
    store = ctx(request).store
    path = await store.run(review.forget_quarantined, message_id, user.scope, user.name)
    if path is not None:
        await asyncio.to_thread(retention.remove_files, store.quarantine, [path])


@login_required
async def delete_held(request: Request, user: User) -> Response:
    """Deletes the held copy once confirmed; without ``confirm=yes``, asks first."""
    message_id = request.path_params["id"]
    form = await request.form()
    if form.get("confirm") != "yes":
        from gateway.web.work import confirm_page

        return await confirm_page(request, user, "delete-held", [message_id], f"/mail/{message_id}")
    await forget_held(request, user, message_id)
    return RedirectResponse(f"/mail/{message_id}?saved=1", status_code=303)


def _read_held(
    connection: Any, message_id: str, scope: list[str] | None, actor: str, place: Any
) -> bytes:
    review.get_flagged(connection, message_id, scope)
    if review.quarantine_entry(connection, message_id) is None:
        raise review.NotFound(message_id)
    raw = records.read_quarantined(connection, message_id, place)
    review.audit(connection, actor, "download", message_id)
    return raw


@login_required
async def download(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    store = ctx(request).store
    try:
        raw = await store.run(_read_held, message_id, user.scope, user.name, store.quarantine)
    except (LookupError, OSError):
        raise review.NotFound(message_id) from None
    return Response(
        raw,
        media_type="message/rfc822",
        headers={
            # Never shown inline: the browser saves it for the case system.
            "Content-Disposition": f'attachment; filename="postvagt-{message_id}.eml"',
        },
    )


ANSWER_FILES = {
    "letter.pdf": ("letter_pdf", "application/pdf"),
    "memo.xml": ("memo_xml", "application/xml"),
}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@login_required
async def answer_document(request: Request, user: User) -> Response:
    """A sent answer as it went out, for the case file: the letter (PDF) or the MeMo XML,
    the recipient's number masked, named with its transaction id; audited."""
    message_id = request.path_params["id"]
    wanted = ANSWER_FILES.get(request.path_params["file"])
    if wanted is None:
        raise review.NotFound(message_id)
    kind, media_type = wanted
    data, transaction = await ctx(request).store.run(
        answers.document,
        message_id,
        request.path_params["answer"],
        kind,
        user.scope,
        user.name,
    )
    suffix = request.path_params["file"][-4:]
    name = f"postvagt-{message_id}-svar-{SAFE_NAME.sub('_', transaction or 'ukendt')}{suffix}"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Transaction-Id": SAFE_NAME.sub("_", transaction or ""),
        },
    )


# -- operations ---------------------------------------------------------------------------------


@login_required
async def health(request: Request, user: User) -> Response:
    context = ctx(request)
    holder = context.policy
    counts = await context.store.run(review.counts, user.scope)
    mailboxes = [m.name for m in holder.current.mailboxes]
    return render(
        request,
        "health.html",
        user=user,
        policy_path=str(holder.path),
        rules=len(holder.current.rules),
        mailboxes=mailboxes if user.scope is None else [m for m in mailboxes if m in user.scope],
        last_error=holder.last_error,
        counts=counts,
        in_flight=context.in_flight(),
    )


def _bearer_ok(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def healthz(request: Request) -> Response:
    """For load balancers: 200 while the next message would be handled, else 503 with the
    reasons (settings and errors only). No login, no data."""
    context = ctx(request)
    if context.health is not None:
        problems = await context.health()
    else:
        try:
            await context.store.ping(5.0)
            problems = []
        except StoreUnavailable as e:
            problems = [f"database unavailable ({e})"]
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus counts: rule names and counts per kind of data, never a message's content.
    On ``metrics_listen`` when set (and then not on the staff page's address), behind a
    bearer token when ``metrics_token_file`` is set."""
    context = ctx(request)
    if context.metrics_elsewhere and not getattr(request.app.state, "metrics_only", False):
        return render(request, "error.html", 404, message="404")
    if context.metrics_token is not None and not _bearer_ok(request, context.metrics_token):
        return Response(
            "a bearer token is needed (metrics_token_file)\n",
            status_code=401,
            media_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="postvagt-metrics"'},
        )
    try:
        counts = await context.store.run(review.counts)
    except StoreUnavailable:
        counts = {}
    body = context.metrics.exposition(counts, context.in_flight())
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
