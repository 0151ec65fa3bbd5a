"""Who may use the studio: the checks every request passes before the app sees it.

A browser will send requests to a local server from any page the user visits, so "it
listens on localhost only" is no boundary by itself. The rules (docs/studio.md, "Security"):

- **Host allowlist** (against DNS rebinding, where another site's name is pointed at
  127.0.0.1 and the page then reads the studio as its own origin): the ``Host`` header
  must be one of the studio's own names with its port; anything else is answered 421.
- **A token** when the studio listens beyond loopback: ``Authorization: Bearer TOKEN``, or
  the cookie that opening ``/?token=TOKEN`` sets (HttpOnly, SameSite=Strict); else 401.
- **Changes only from the studio's own page**: a POST, PUT, PATCH or DELETE is refused
  (403) when ``Sec-Fetch-Site`` says another site sent it, when ``Origin`` is not the
  studio's own, or when it is neither JSON nor carries ``X-Painterly: 1``. Other pages can
  send neither without a CORS preflight, which the studio never grants; so a plain HTML
  form or a ``no-cors`` fetch from another site is refused.
- **Headers on every response**: no referrer, no framing, no content sniffing, and the
  page's Content-Security-Policy.

Refusals are one sentence in ``detail``, like every other client mistake.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import urllib.parse
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response

log = logging.getLogger("painterly.studio")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""The names of this machine that every studio answers to."""

WILDCARDS = ("0.0.0.0", "::", "")
"""``--host`` values that mean every address of the machine, not a name clients use."""

CUSTOM_HEADER = "x-painterly"
"""The header a write that is not JSON must carry (``X-Painterly: 1``); no other site's
page can add it without a preflight."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
DOCS_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
"""Swagger UI and ReDoc need their inline scripts; framing stays forbidden."""
DOCS_PATHS = ("/docs", "/redoc")

SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "same-origin",
}


def host_name(host: str) -> str:
    """``host`` as it appears in a ``Host`` header: IPv6 addresses in brackets, lower case."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP address, as a bound socket reports it) is loopback."""
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """What a request must show: one of ``names`` (with ``port``) as its Host, and
    ``token`` if there is one (None: none is needed)."""

    names: tuple[str, ...]
    port: int
    token: str | None = None

    @classmethod
    def create(
        cls, port: int, host: str = "127.0.0.1", token: str | None = None, also: Iterable[str] = ()
    ) -> Access:
        """The access of a studio on ``host``:``port``: the loopback names, ``host`` itself
        unless it is a wildcard, and the further names in ``also``."""
        names = [*LOOPBACK_NAMES, *(host_name(n) for n in (host, *also) if n not in WILDCARDS)]
        return cls(tuple(dict.fromkeys(names)), port, token)

    @property
    def hosts(self) -> frozenset[str]:
        """Every accepted ``Host`` header value (without the port only on port 80, as a
        browser sends it)."""
        with_port = {f"{name}:{self.port}" for name in self.names}
        return frozenset(with_port | (set(self.names) if self.port == 80 else set()))

    @property
    def cookie(self) -> str:
        # Cookies ignore ports: a name of its own keeps two studios' tokens apart.
        return f"painterly_token_{self.port}"

    def has_token(self, given: str | None) -> bool:
        """Whether ``given`` is the token, compared in constant time."""
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def _refuse(status: int, detail: str, **headers: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def _bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: Headers, name: str) -> str | None:
    # Starlette's lenient parser, as browsers read cookies: junk is skipped, never an error.
    return cookie_parser(headers.get("cookie", "")).get(name)


def _is_json(headers: Headers) -> bool:
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media == "application/json"


class Guard:
    """ASGI middleware that refuses, before the app sees it, any request that breaks the
    rules of the module docstring; a valid ``GET /?token=…`` logs the browser in."""

    def __init__(self, app: Any, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = self.check(scope)
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def check(self, scope: dict) -> Response | None:
        """The refusal (or login redirect) for this request; None: let it through."""
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if host not in self.access.hosts:
            names = ", ".join(f"{name}:{self.access.port}" for name in self.access.names)
            return _refuse(421, f"this studio answers only to {names}, not to host {host!r}")
        if self.access.token is not None:
            answer = self._authenticate(scope, headers)
            if answer is not None:
                return answer
        if scope["method"] not in SAFE_METHODS:
            return self._check_origin(headers, host)
        return None

    def _authenticate(self, scope: dict, headers: Headers) -> Response | None:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["method"] == "GET" and scope["path"] == "/" and "token" in query:
            if not self.access.has_token(query["token"][-1]):
                return _refuse(401, "this is not the studio's token; use the address it printed")
            # The token leaves the address bar; the cookie carries it from now on.
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                self.access.cookie, query["token"][-1], httponly=True, samesite="strict"
            )
            return response
        given = _bearer(headers) or _cookie(headers, self.access.cookie)
        if self.access.has_token(given):
            return None
        return _refuse(
            401,
            "this studio needs its token: open the address it printed when it started "
            "(…/?token=…) or send Authorization: Bearer TOKEN",
            **{"WWW-Authenticate": "Bearer"},
        )

    def _check_origin(self, headers: Headers, host: str) -> Response | None:
        site = headers.get("sec-fetch-site")
        if site is not None and site.lower() not in ALLOWED_FETCH_SITES:
            return _refuse(403, f"the studio takes changes only from its own page, not {site}")
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"http://{host}":
            return _refuse(
                403, f"the studio takes changes only from its own page, not from {origin!r}"
            )
        if not _is_json(headers) and headers.get(CUSTOM_HEADER) != "1":
            return _refuse(
                403,
                "a change to the studio must be sent as JSON or carry the header "
                "X-Painterly: 1 (a form on another site can do neither)",
            )
        return None


class SecurityHeaders:
    """ASGI middleware that adds :data:`SECURITY_HEADERS` and the Content-Security-Policy
    to every response, refusals, static files and internal errors included.

    A bug that raises before an answer has begun is answered here, as a 500 with one
    sentence and the headers (and logged with its traceback): Starlette's own error answer
    comes from outside every middleware, so it would go out without them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)
        started = False

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers["content-security-policy"] = DOCS_CSP if docs else PAGE_CSP
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            if started:
                raise
            log.exception("internal error answering %s %s", scope.get("method"), scope["path"])
            answer = JSONResponse(
                {"detail": "internal error: the studio could not answer this (see its log)"},
                status_code=500,
            )
            await answer(scope, receive, with_headers)
