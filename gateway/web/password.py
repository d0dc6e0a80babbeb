"""A local account's new password: the current one first, every other session ended.

The argon2 hashing runs off the event loop that also serves SMTP, a few at a time
(WebContext.hashing)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.store import review
from gateway.store.users import User, change_password
from gateway.web.auth import hash_password, new_csrf_token, verify_password
from gateway.web.common import ALL_ROLES, ctx, for_roles, render, words


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


ROUTES = [Route("/password", password_page, methods=["GET", "POST"])]
