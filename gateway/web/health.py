"""Operations: /health for logged-in staff (the policy in force, its last reload error, the
queues of their mailboxes), /healthz for load balancers and /metrics for Prometheus (no
login; counts only, never a message's content)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.store import StoreUnavailable, review
from gateway.store.users import User
from gateway.web.common import ctx, login_required, render


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


ROUTES = [
    Route("/health", health),
    Route("/healthz", healthz),
    Route("/metrics", metrics),
]
