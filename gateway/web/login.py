"""Logging in with a password and out, and the language of the pages (a link on every page).

Single sign-on is gateway.web.oidc; its /logout ends the session here first. A login takes a
fresh session (no fixation); failed and throttled attempts are audited (gateway.web.throttle).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.store import review
from gateway.store.users import User, end_sessions, find_user
from gateway.web import throttle
from gateway.web.auth import csrf_ok, verify_password
from gateway.web.common import (
    ALL_ROLES,
    ctx,
    current_user,
    for_roles,
    language,
    render,
    safe_next,
    start_session,
    words,
)
from gateway.web.i18n import LANGUAGES


async def login_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    # A valid session is never replaced here: a link from webmail or the intranet to the
    # login page (or a page behind it) lands where it points.
    if request.session.get("user") and await current_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, "login.html", next=target)


async def login(request: Request) -> Response:
    form = await request.form()
    t = words(request)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        return render(request, "login.html", 403, error=t["csrf"], next="/")
    name = str(form.get("user", "")).strip()[:255]
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    context = ctx(request)
    store = context.store
    client = throttle.client_address(request, context.trusted_proxies)
    user = await store.run(find_user, name)
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
    start_session(request, user)
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


async def set_language(request: Request) -> Response:
    code = request.path_params["code"]
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)


# /logout is gateway.web.oidc's: this logout, then the provider's.
ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/lang/{code}", set_language),
]
