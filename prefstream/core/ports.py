"""The default port of every prefstream service (each can be moved by its command's options)."""

from __future__ import annotations

KAFKA = 19092  # the local broker; its controller listens on the next port
PROCESSOR = 6066  # a processor worker's query API and /metrics
WEB = 8080  # the web preference center
CALL_CENTER = 8081
SOCIAL = 8082
SMS = 8083
CRM_SINK_METRICS = 9201  # the sinks `make run` starts
ARCHIVE_SINK_METRICS = 9202
SIMULATOR_METRICS = 9209


def local_url(port: int) -> str:
    """The loopback address of a local service."""
    return f"http://127.0.0.1:{port}"


PROCESSOR_URL = local_url(PROCESSOR)
