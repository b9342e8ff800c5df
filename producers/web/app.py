"""The aiohttp application: the preference-center pages, the JSON API, security headers.

Routes (every customer route carries a signed link token; a bad one gets a 403 page):
    GET  /p/{token}                   the preference center with current values
    POST /p/{token}                   save the form (CSRF) -> confirmation page
    POST /p/{token}/unsubscribe-all   one click: opt out of everything (CSRF)
    GET  /confirm/{token}             email double opt-in page; POST confirms (CSRF)
    GET|POST /api/p/{token}/preferences   the JSON API (see producers.web.api)
    GET  /style.css, /health, /metrics, /openapi.json
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from producers.publisher import Rejected, Unavailable
from producers.web import render, signing
from producers.web.api import add_api_routes
from producers.web.events import ProofContext
from producers.web.guard import signed
from producers.web.preferences import open_questions, parse_form, unsubscribe_all
from producers.web.processor_client import ProcessorUnavailable
from producers.web.service import REASON_MALFORMED_FORM, REASON_TOO_LARGE, PreferenceCenter
from schemas.validation import Problem

CENTER: web.AppKey[PreferenceCenter] = web.AppKey("center", PreferenceCenter)
MAX_BODY = 64 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the link token is in the URL
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@web.middleware
async def security_headers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every answer: a strict CSP, no referrer, no caching of personal pages."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        for name, value in HEADERS.items():
            error.headers.setdefault(name, value)
        raise
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _center(request: web.Request) -> PreferenceCenter:
    return request.app[CENTER]


def _forbidden(center: PreferenceCenter, reason: str) -> web.Response:
    return _html(render.forbidden_page(center.config, reason), 403)


def _unavailable(center: PreferenceCenter) -> web.Response:
    return _html(render.message_page(center.config, "forbidden_title", center.config.text("unavailable")), 503)


async def _form(request: web.Request) -> tuple[dict[str, str] | None, bytes, str | None]:
    """The submitted form and its raw bytes; None and the DLQ reason when too large or not a UTF-8 form."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None, b"", REASON_TOO_LARGE
    try:
        form = await request.post()
    except ValueError:  # UnicodeDecodeError included
        return None, raw, REASON_MALFORMED_FORM
    return {key: value for key, value in form.items() if isinstance(value, str)}, raw, None


async def _checked_form(request: web.Request, center: PreferenceCenter, token: str) -> dict[str, str] | None:
    """The submitted form when it carries this link's CSRF token, else None."""
    form, _, _ = await _form(request)
    return form if form is not None and center.csrf_ok(token, form.get("csrf")) else None


@signed(CENTER, _forbidden)
async def show(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
    """The preference center with the customer's current values."""
    try:
        current = await center.current(claims.customer_id)
    except ProcessorUnavailable:
        return _unavailable(center)
    return _html(render.preferences_page(center.config, current, open_questions(current, center.config), token, center.csrf(token)))


@signed(CENTER, _forbidden)
async def save(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
    """Save the form: one event with every change that differs from the current values."""
    form, raw, refused = await _form(request)
    if refused == REASON_TOO_LARGE:
        await center.reject(claims.customer_id, raw, "body larger than 64 KiB", REASON_TOO_LARGE)
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length or 0)
    if form is None:
        await center.reject(claims.customer_id, raw, "body is not a UTF-8 form", REASON_MALFORMED_FORM)
        return _html(render.message_page(center.config, "unreadable_title", center.config.text("unreadable")), 400)
    if not center.csrf_ok(token, form.get("csrf")):
        return _forbidden(center, "csrf")
    try:
        current = await center.current(claims.customer_id)
    except ProcessorUnavailable:
        return _unavailable(center)
    asked = open_questions(current, center.config)
    desired, problems = parse_form(form, center.config, asked)
    planned = center.plan(current, desired) if not problems else None
    if planned is not None:
        problems = planned.problems

    def again(found: list[Problem]) -> web.Response:
        page = render.preferences_page(center.config, current, asked, token, center.csrf(token), desired=desired, problems=found)
        return _html(page, 400)

    if planned is None or problems:
        await center.reject(claims.customer_id, raw, "; ".join(map(str, problems)))
        return again(problems)
    try:
        outcome = await center.publish(claims.customer_id, planned.changes, _proof(request),
                                       confirm_email=planned.confirm_email)
    except Rejected as rejected:
        return again(rejected.problems)
    except Unavailable:
        return _unavailable(center)
    dev_link = outcome.confirm_link if center.settings.dev else None
    return _html(render.saved_page(center.config, token, len(outcome.changes), confirm_sent=bool(outcome.confirm_link), dev_link=dev_link))


def _proof(request: web.Request) -> ProofContext:
    return _center(request).proof(request.remote, request.headers.get("User-Agent"))


@signed(CENTER, _forbidden)
async def unsubscribe_everything(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
    """One click: opt out of every channel and topic."""
    if await _checked_form(request, center, token) is None:
        return _forbidden(center, "csrf")
    try:
        outcome = await center.publish(claims.customer_id, unsubscribe_all(center.config), _proof(request))
    except Unavailable:
        return _unavailable(center)
    return _html(render.saved_page(center.config, token, len(outcome.changes), confirm_sent=False, dev_link=None))


@signed(CENTER, _forbidden, signing.CONFIRM_EMAIL)
async def confirm_page(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
    """The email double opt-in page behind a confirmation link."""
    return _html(render.confirm_email_page(center.config, token, center.csrf(token)))


@signed(CENTER, _forbidden, signing.CONFIRM_EMAIL)
async def confirm(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
    """Confirm the email address: EMAIL consent becomes OPTED_IN (proof DOUBLE_OPT_IN)."""
    if await _checked_form(request, center, token) is None:
        return _forbidden(center, "csrf")
    try:
        await center.confirm_email(claims, _proof(request))
    except Unavailable:
        return _unavailable(center)
    return _html(render.message_page(center.config, "confirmed_title", center.config.text("confirmed_text")))


async def stylesheet(request: web.Request) -> web.Response:
    """The brand's stylesheet."""
    return web.Response(text=render.stylesheet(_center(request).config), content_type="text/css")


async def health(request: web.Request) -> web.Response:
    """Liveness."""
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics of this process (the publisher's accepted, rejected, latency)."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(center: PreferenceCenter) -> web.Application:
    """The web application around a PreferenceCenter (its HTTP session opens and closes with the app)."""
    app = web.Application(middlewares=[security_headers], client_max_size=MAX_BODY)
    app[CENTER] = center

    async def lifecycle(_app: web.Application):
        await center.start()
        yield
        await center.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/p/{token}", show)
    app.router.add_post("/p/{token}", save)
    app.router.add_post("/p/{token}/unsubscribe-all", unsubscribe_everything)
    app.router.add_get("/confirm/{token}", confirm_page)
    app.router.add_post("/confirm/{token}", confirm)
    app.router.add_get("/style.css", stylesheet)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    add_api_routes(app, CENTER)
    return app
