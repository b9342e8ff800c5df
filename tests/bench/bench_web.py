"""The web preference center's JSON API: requests/s and latency with confirmed delivery.

    python -m tests.bench.bench_web [--seconds 8] [--concurrency 64] [--rate 500] [--latency-seconds 10] [--json out.json]

Uses the cluster in KAFKA_BOOTSTRAP, or starts a local broker in a temporary folder (stopped at
the end). Three processes besides this one, all on 127.0.0.1: a stub of the processor's query API
(404: every customer is new, so every POST changes something), the real web app with the real
Publisher (its answer comes after the broker acknowledged), and the same app whose publisher
validates and encodes the event but acknowledges at once (no Kafka) - the baseline.

Each POST is `POST /api/p/<token>/preferences {"consents": {"SMS": true}}` for one of
`--customers` signed links, with its CSRF header: link and CSRF check, query-API read, plan,
event, validation, Avro encoding, produce and ack. Figures:
- throughput: closed loop, `--concurrency` connections always busy for `--seconds`, driven by
  wrk (Debian's `wrk`, installed by `make bench`); `GET /health` of the same server is the
  ceiling of aiohttp and the load generator on this machine. Until 2026-11-23 a Python aiohttp
  client drove it, at 0.17 ms of CPU a request beside the server on the same two cores (with it:
  2,004-2,018 requests/s with Kafka on the day wrk replaced it);
- latency: open loop at `--rate` requests/s for `--latency-seconds`, measured from each request's
  scheduled send time (a slow answer delays no later request: no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from prefstream.core.settings import Settings
from prefstream.core.topics import EVENTS, create_topics
from prefstream.local.broker import LocalBroker
from tests.bench.warm_broker import warm_broker
from tests.kafka_for_tests import free_port

SECRET = b"bench-web-secret-0123456789abcdef0123"
BODY = json.dumps({"consents": {"SMS": True}}).encode()
TARGET_RPS, TARGET_P99_MS = 2000, 25.0


def _serve_stub(port: int) -> None:
    """The processor's query API as a stub: no customer is known yet (runs in a child process)."""
    from aiohttp import web

    async def profile(_request: web.Request) -> web.Response:
        return web.json_response({"error": "no such customer"}, status=404)

    app = web.Application()
    app.router.add_get("/profiles/{customer_id}/", profile)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _serve_web(port: int, settings: Settings | None, processor_url: str) -> None:
    """The web app with the real Publisher, or (settings None) one that acks without Kafka."""
    from aiohttp import web

    from producers.publisher import Accepted, Publisher
    from producers.web.app import create_app
    from producers.web.config import WebSettings, load_web_config
    from producers.web.service import PreferenceCenter

    class NoKafka(Publisher):
        """Validates and encodes like the real publisher, then answers at once."""

        def __init__(self) -> None:  # no producer, no callback thread
            self.source, self.clock = "bench-no-kafka", lambda: datetime.now(UTC)
            from datetime import timedelta
            self.max_future_skew = timedelta(minutes=5)

        async def publish(self, event: dict[str, Any]) -> Accepted:
            topic, _key, _value, _headers, rejection = self._prepare(event)
            if rejection is not None:
                raise rejection
            return Accepted(topic, 0, 0, event["event_id"])

        def close(self, timeout: float = 30) -> None:
            pass

    publisher = Publisher(settings, "web-bench") if settings is not None else NoKafka()
    center = PreferenceCenter(load_web_config(), WebSettings(SECRET, processor_url, f"http://127.0.0.1:{port}", dev=False), publisher)
    try:
        web.run_app(create_app(center), host="127.0.0.1", port=port, print=None, access_log=None)
    finally:
        publisher.close()


def _wait_listening(port: int, child: multiprocessing.process.BaseProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.is_alive():
            raise RuntimeError(f"the server for port {port} exited with code {child.exitcode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


@dataclass(frozen=True)
class Server:
    """A child process serving HTTP: its base URL and PID."""

    url: str
    pid: int


@contextmanager
def process(target: Any, port: int, *args: Any) -> Iterator[Server]:
    """Run `target(port, *args)` in a spawned child process while the context lasts."""
    child = multiprocessing.get_context("spawn").Process(target=target, args=(port, *args), daemon=True)
    child.start()
    try:
        _wait_listening(port, child)
        yield Server(f"http://127.0.0.1:{port}", child.pid)
    finally:
        child.terminate()
        child.join(15)


@dataclass(frozen=True)
class Call:
    """One request: path, headers, body (None: GET)."""

    path: str
    headers: dict[str, str]
    body: bytes | None


def post_calls(customers: int, tag: str) -> list[Call]:
    """A signed POST of one consent change for each of `customers` new customers."""
    from producers.web import signing
    from producers.web.csrf import csrf_token

    expires = int(time.time()) + 86400
    calls = []
    for index in range(customers):
        token = signing.sign(SECRET, signing.Claims(signing.ACCESS, f"bench-{tag}-{index}", expires))
        headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf_token(SECRET, token)}
        calls.append(Call(f"/api/p/{token}/preferences", headers, BODY))
    return calls


async def _send(session: aiohttp.ClientSession, base: str, call: Call) -> bool:
    """Send one call; True when it succeeded (for a POST: Kafka accepted the event)."""
    if call.body is None:
        async with session.get(base + call.path) as response:
            await response.read()
            return response.status == 200
    async with session.post(base + call.path, data=call.body, headers=call.headers) as response:
        answer = await response.json()
        return response.status == 200 and answer.get("accepted") is True


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections), timeout=aiohttp.ClientTimeout(total=30))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(phase: Callable[[], dict[str, Any]], pids: dict[str, int]) -> dict[str, Any]:
    """Run `phase`; add the CPU milliseconds per request each process spent on it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    figures = phase()
    requests = max(1, figures["requests"])
    figures["cpu_ms_per_request"] = {name: round((cpu_seconds(pid) - before[name]) * 1000 / requests, 3)
                                     for name, pid in pids.items()}
    if "load_generator_cpu_s" in figures:  # wrk, a child process: not this process's CPU
        figures["cpu_ms_per_request"]["load_generator"] = round(figures.pop("load_generator_cpu_s") * 1000 / requests, 3)
    return figures


WRK_SCRIPT = """
local calls = {%s}
local threads = {}
accepted = 0
function setup(thread) table.insert(threads, thread) end
local i = 0
request = function()
  i = i + 1
  local call = calls[(i %% #calls) + 1]
  if call[3] == nil then return wrk.format("GET", call[1]) end
  return wrk.format("POST", call[1], {["Content-Type"] = "application/json", ["X-CSRF-Token"] = call[2]}, call[3])
end
response = function(status, headers, body)
  if status == 200 and (not %s or string.find(body, '"accepted": true', 1, true)) then accepted = accepted + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("accepted") end
  io.write(string.format("PREFSTREAM %%d %%d %%d\\n", summary.requests, summary.duration, total))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string literal


def wrk_closed_loop(base: str, calls: list[Call], concurrency: int, seconds: float, folder: Path) -> dict[str, Any]:
    """Requests/s with `concurrency` connections always busy for `seconds`, driven by wrk (one thread).

    wrk spends a fraction of the CPU per request of the Python aiohttp client that drove this loop
    before, which took 0.17 ms a request, a third of a core at 2,000/s, on the two cores the
    server, the broker and the query API stub share. A request counts as done when it answered 200
    (a POST: with `"accepted": true`).
    """
    entries = ",".join("{{{},{},{}}}".format(_lua_string(call.path), _lua_string(call.headers.get("X-CSRF-Token", "")),
                                             _lua_string(call.body.decode()) if call.body is not None else "nil")
                       for call in calls)
    script = folder / "calls.lua"
    expect_accepted = "true" if any(call.body is not None for call in calls) else "false"
    script.write_text(WRK_SCRIPT % (entries, expect_accepted))
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk not found: `make bench` installs it (deploy/install-system-deps.sh wrk)")
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "-s", str(script), base]
    subprocess.run([*command[:3], "-d2s", *command[4:]], check=True, capture_output=True, timeout=60)  # warm up
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator_cpu = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    line = next((line for line in run.stdout.splitlines() if line.startswith("PREFSTREAM ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {run.stdout[-500:]} {run.stderr[-500:]}")
    requests, micros, done = (int(field) for field in line.split()[1:])
    return {"requests_per_s": round(done / (micros / 1e6)), "failed": requests - done, "requests": done,
            "load_generator_cpu_s": generator_cpu}


def run_open_loop(base: str, calls: list[Call], rate: int, seconds: float) -> dict[str, Any]:
    """`open_loop` on an event loop of its own."""
    return asyncio.run(open_loop(base, calls, rate, seconds))


async def open_loop(base: str, calls: list[Call], rate: int, seconds: float) -> dict[str, Any]:
    """Latency at a fixed arrival rate, from each request's scheduled send time."""
    count = int(rate * seconds)
    latencies: list[float] = []
    failed = 0
    async with _session(512) as session:
        await asyncio.gather(*(_send(session, base, calls[i]) for i in range(min(64, len(calls)))))  # warm up

        async def one(call: Call, scheduled: float) -> None:
            nonlocal failed
            ok = await _send(session, base, call)
            latencies.append(time.monotonic() - scheduled)
            failed += not ok

        tasks = []
        began = time.monotonic()
        for i in range(count):
            scheduled = began + i / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(calls[i % len(calls)], scheduled)))
        await asyncio.gather(*tasks)
        sent_for = time.monotonic() - began
    latencies.sort()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"rate_per_s": rate, "achieved_rate_per_s": round(count / sent_for), "failed": failed, "requests": count,
            "p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1), "max_ms": round(latencies[-1] * 1000, 1)}


def _events_on_log(settings: Settings) -> int:
    """Messages on preference-events (to check that the run produced what it says)."""
    from confluent_kafka import Consumer, TopicPartition

    from prefstream.core.kafka import consumer_config

    consumer = Consumer(consumer_config(settings, f"bench-web-count-{time.monotonic_ns()}"))
    try:
        metadata = consumer.list_topics(EVENTS, timeout=10)
        total = 0
        for partition in metadata.topics[EVENTS].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(EVENTS, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def run(seconds: float = 8.0, concurrency: int = 64, rate: int = 500, latency_seconds: float = 10.0,
        customers: int = 2000) -> dict[str, Any]:
    """Throughput and latency of the JSON API with Kafka, beside the no-Kafka app and /health."""
    tag = f"{time.time_ns():x}"
    calls = post_calls(customers, tag)
    health = [Call("/health", {}, None)]
    with warm_broker() as settings, tempfile.TemporaryDirectory(prefix="prefstream-bench-web-") as tmp:
        folder = Path(tmp)
        create_topics(settings)
        stub_port = free_port()
        with process(_serve_stub, stub_port) as stub, \
                process(_serve_web, free_port(), settings, stub.url) as kafka_app, \
                process(_serve_web, free_port(), None, stub.url) as plain_app:
            pids = {"web": kafka_app.pid, "query_api_stub": stub.pid, "load_generator": os.getpid()}
            broker = LocalBroker(settings).pid()
            if broker is not None:
                pids["broker"] = broker
            plain_pids = pids | {"web": plain_app.pid}
            before = _events_on_log(settings)
            closed = partial(wrk_closed_loop, concurrency=concurrency, seconds=seconds, folder=folder)
            paced = partial(run_open_loop, calls=calls, rate=rate, seconds=latency_seconds)
            result: dict[str, Any] = {
                "health": measured(partial(closed, kafka_app.url, health), pids),
                "no_kafka": measured(partial(closed, plain_app.url, calls), plain_pids),
                "kafka": measured(partial(closed, kafka_app.url, calls), pids),
            }
            result["no_kafka"]["latency"] = measured(partial(paced, plain_app.url), plain_pids)
            result["kafka"]["latency"] = measured(partial(paced, kafka_app.url), pids)
            result["kafka"]["events_on_log"] = _events_on_log(settings) - before
    kafka, plain = result["kafka"], result["no_kafka"]
    result["ratios"] = {"kafka_vs_no_kafka": round(kafka["requests_per_s"] / max(1, plain["requests_per_s"]), 2),
                        "kafka_vs_health": round(kafka["requests_per_s"] / max(1, result["health"]["requests_per_s"]), 2)}
    result["settings"] = {"seconds": seconds, "concurrency": concurrency, "rate": rate,
                          "latency_seconds": latency_seconds, "customers": customers}
    return result


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def markdown(result: dict[str, Any]) -> str:
    """The figures as a small Markdown table, with the targets."""
    kafka, plain, health = result["kafka"], result["no_kafka"], result["health"]
    slow, fast = kafka["latency"], plain["latency"]
    rate, concurrency = result["settings"]["rate"], result["settings"]["concurrency"]
    cpu, plain_cpu = kafka["cpu_ms_per_request"], plain["cpu_ms_per_request"]
    rows = [
        "| web JSON API, POST of one change | with Kafka's ack | no Kafka (baseline) | target |",
        "|---|---:|---:|---|",
        f"| requests/s, {concurrency} in flight | {kafka['requests_per_s']:,} | {plain['requests_per_s']:,} | "
        f"≥ {TARGET_RPS:,}: {_met(kafka['requests_per_s'] >= TARGET_RPS)} |",
        f"| latency at {rate}/s, p50 / p99 / max (ms) | {slow['p50_ms']} / {slow['p99_ms']} / {slow['max_ms']} | "
        f"{fast['p50_ms']} / {fast['p99_ms']} / {fast['max_ms']} | p99 < {TARGET_P99_MS:g} ms: {_met(slow['p99_ms'] < TARGET_P99_MS)} |",
        f"| web process CPU ms per request (closed loop) | {cpu['web']} | {plain_cpu['web']} | |",
        f"| broker CPU ms per request | {cpu.get('broker', '-')} | | |",
        f"| failed requests | {kafka['failed'] + slow['failed']} | {plain['failed'] + fast['failed']} | 0 |",
        "",
        f"With Kafka / without: {result['ratios']['kafka_vs_no_kafka']}; with Kafka / `GET /health` of the same server "
        f"({health['requests_per_s']:,}/s, the ceiling of aiohttp and the load generator here): "
        f"{result['ratios']['kafka_vs_health']}. Events the Kafka app put on the log: {kafka['events_on_log']:,}.",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="closed-loop duration per server")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight in the closed loop")
    parser.add_argument("--rate", type=int, default=500, help="open-loop rate (requests/s) for the latency")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=2000, help="distinct signed links")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = run(args.seconds, args.concurrency, args.rate, args.latency_seconds, args.customers)
    print(markdown(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
