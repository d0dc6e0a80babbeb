"""The staff page as a Starlette application, and its server inside the gateway's loop.

Security headers on every response: a strict Content-Security-Policy (``default-src 'self'``,
no inline script or style, no framing), nosniff, no referrer, no caching of pages that show
flagged mail. Nothing from a message is ever rendered as HTML: Jinja2 escapes every value,
and every value shows its control characters (gateway.cleantext): no NUL or right-to-left
override reaches a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.cleantext import visible
from gateway.web import (
    answer,
    auditpage,
    bulk,
    export,
    health,
    listpage,
    login,
    mail,
    oidc,
    password,
    stats,
)
from gateway.web.common import WebContext, local_time, render
from gateway.web.i18n import Words

log = logging.getLogger("postvagt.web")

HERE = Path(__file__).resolve().parent


def security_headers(form_action: str = "") -> list[tuple[bytes, bytes]]:
    """The headers of every response; ``form_action``: another origin a form may lead to
    (the OpenID provider, where logging out ends: Chromium holds redirects after a form to
    form-action too)."""
    return [
        (
            b"content-security-policy",
            b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            b"object-src 'none'; base-uri 'none'; form-action 'self'"
            + (b" " + form_action.encode("ascii") if form_action else b"")
            + b"; frame-ancestors 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cache-control", b"no-store"),
    ]


SECURITY_HEADERS = security_headers()


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers without buffering responses."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)


def byte_size(size: int | None, t: Words) -> str:
    """1 234 bytes → "1,2 kB" in Danish, "1.2 kB" in English."""
    if size is None:
        return ""
    if size < 1000:
        return f"{size} {t['bytes']}"
    value, unit = (size / 1000, "kB") if size < 1_000_000 else (size / 1_000_000, "MB")
    return f"{value:.1f}".replace(".", t["decimal"]) + f" {t[unit]}"


def shown(value: object) -> object:
    """What a page prints of a value: text with its control characters made visible. The
    records are cleaned where they are made; this also covers envelope addresses (kept as
    received, for a release) and rows written before that."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value, keep_layout=True)
    return value


def templates() -> Jinja2Templates:
    made = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape on for .html
    made.env.finalize = shown  # before any template is compiled
    made.env.filters["local"] = local_time
    made.env.filters["size"] = byte_size
    return made


# Each page lists its own routes; no two pages share a path and method.
PAGES = [
    *listpage.ROUTES,
    *login.ROUTES,
    *oidc.ROUTES,
    *password.ROUTES,
    *bulk.ROUTES,
    *export.ROUTES,
    *stats.ROUTES,
    *auditpage.ROUTES,
    *mail.ROUTES,
    *answer.ROUTES,
    *health.ROUTES,
]


async def not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 404, message="404")


def build_app(
    context: WebContext,
    *,
    secret: str,
    secure_cookie: bool,
    sso: oidc.SingleSignOn | None = None,
) -> Starlette:
    routes = [
        *PAGES,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, headers=security_headers(sso.origin if sso else "")),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="postvagt_session",
                max_age=8 * 3600,
                # Lax: a link from webmail or the intranet arrives logged in; every POST
                # still needs the session's CSRF token.
                same_site="lax",
                https_only=secure_cookie,
            ),
        ],
        exception_handlers={404: not_found},
    )
    app.state.web = context
    app.state.sso = sso
    # The login page offers single sign-on (and may hide the password form).
    context.templates.env.globals["sso"] = sso
    return app


def build_metrics_app(context: WebContext) -> Starlette:
    """/metrics alone, for ``metrics_listen``: no sessions, no staff page."""
    app = Starlette(
        routes=[Route("/metrics", health.metrics)],
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.web = context
    app.state.metrics_only = True
    return app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves the signals alone: the gateway handles SIGTERM/SIGINT/SIGHUP
    itself (a drain of the mail in flight), and uvicorn would put its own handlers in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """uvicorn on the gateway's own event loop: one process serves SMTP and the page."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # URLs hold message ids, nothing more; staff views are audited
            lifespan="off",
            server_header=False,
            proxy_headers=False,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve, or raise OSError when the address cannot be bound (uvicorn itself would
        exit the process)."""
        config = self._server.config
        try:
            # Bind here, where a failure is ours to report; uvicorn serves the socket.
            sock = socket.create_server((config.host, config.port), reuse_port=False)
        except OSError as e:
            raise OSError(e.errno, f"staff page {config.host}:{config.port}: {e.strerror}") from e
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                raise OSError(f"staff page {config.host}:{config.port}: did not start")
            await asyncio.sleep(0.02)

    @property
    def port(self) -> int:
        servers = self._server.servers
        return int(servers[0].sockets[0].getsockname()[1]) if servers else 0

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, 10)
        except TimeoutError:
            self._task.cancel()
