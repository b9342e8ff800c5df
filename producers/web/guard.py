"""Handlers behind a signed link: the token is checked once, before the handler runs."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from producers.web import signing
from producers.web.service import PreferenceCenter

# a handler that runs only for a valid link: (request, center, link token, its claims)
LinkHandler = Callable[[web.Request, PreferenceCenter, str, signing.Claims], Awaitable[web.Response]]
# the answer to a bad link: (center, reason) -> response
Refusal = Callable[[PreferenceCenter, str], web.Response]


def signed(key: web.AppKey[PreferenceCenter], refuse: Refusal, purpose: str = signing.ACCESS,
           ) -> Callable[[LinkHandler], Callable[[web.Request], Awaitable[web.Response]]]:
    """Wrap a LinkHandler: a tampered, expired or wrong-purpose `{token}` gets `refuse(center, reason)`."""
    def wrap(handler: LinkHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.Response:
            center, token = request.app[key], request.match_info["token"]
            try:
                claims = center.claims(token, purpose)
            except signing.LinkError as error:
                return refuse(center, error.reason)
            return await handler(request, center, token, claims)
        return checked
    return wrap
