"""Current values from the processor's query API: `GET {processor_url}/profiles/{customer_id}/`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from prefstream.errors import PrefstreamError


class ProcessorUnavailable(PrefstreamError):
    """The query API did not answer, or answered with an error other than 404."""


async def fetch_profile(session: aiohttp.ClientSession, processor_url: str, customer_id: str) -> dict[str, Any] | None:
    """The customer's profile as JSON, or None when nothing is known of them yet (404)."""
    url = f"{processor_url}/profiles/{quote(customer_id, safe='')}/"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise ProcessorUnavailable(f"query API answered {response.status}")
            return await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise ProcessorUnavailable(f"query API unreachable: {type(error).__name__}") from None
