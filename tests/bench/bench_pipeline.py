"""The whole pipeline as `prefstream run` starts it: adapter throughput under the simulator's mixed
traffic, end-to-end latency from touchpoint to sink (an agent call's 202 to its line in the JSON
Lines sink), peak RSS of every process, and the processor's state on disk for the customers.

    python -m tests.bench.bench_pipeline --customers 2000 --rate 400 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from prefstream.core.topics import create_topics
from prefstream.local.run import Lag, wait_ready
from prefstream.local.simulate.command import link_signer
from prefstream.local.simulate.driver import ACCEPTED, Driver, Endpoints
from prefstream.local.simulate.traffic import Traffic
from prefstream.local.stages import Ports, child_env, pipeline_stages, sinks_config
from tests.bench.bench_processor import folder_size_mb
from tests.bench.warm_broker import warm_broker
from tests.kafka_for_tests import free_block


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def probe_latency(call_center: str, archive: Path, probes: int, rate: float) -> dict[str, Any]:
    """Agent calls for fresh customers at `rate`/s; seconds from each 202 to its line in the archive file."""
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    offset = archive.stat().st_size if archive.exists() else 0
    tag = os.urandom(3).hex()
    start = time.monotonic()
    deadline = start + probes / rate + 30
    n = 0
    while time.monotonic() < deadline and len(seen) < probes:
        if n < probes and time.monotonic() >= start + n / rate:
            customer = f"probe-{tag}-{n}"
            body = {"agent_id": "bench", "interaction_id": customer, "customer": customer, "proof": {"method": "WRITTEN"},
                    "changes": [{"type": "consent", "channel": "EMAIL", "status": "OPTED_OUT"}]}
            request = urllib.request.Request(f"{call_center}/call-center/events", json.dumps(body).encode(),
                                             {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10):
                sent[customer] = time.monotonic()
            n += 1
        with archive.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        offset += len(complete)
        now = time.monotonic()
        for line in complete.splitlines():
            customer = json.loads(line).get("customer_id", "")
            if customer in sent and customer not in seen:
                seen[customer] = now
        time.sleep(0.005)
    latencies = sorted((seen[c] - sent[c]) * 1000 for c in seen)
    quantile = (lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))])) if latencies else (lambda q: None)
    return {"probes": probes, "received": len(latencies), "rate_per_s": rate, "p50_ms": quantile(0.5),
            "p95_ms": quantile(0.95), "p99_ms": quantile(0.99), "max_ms": round(latencies[-1]) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies)) if latencies else None}


def run(customers: int = 2000, rate: float = 400, seconds: float = 20, probes: int = 50) -> dict[str, Any]:
    """Start the pipeline on a bench broker, drive it, probe latency, read RSS and state size, stop it."""
    with tempfile.TemporaryDirectory(prefix="prefstream-bench-pipeline-") as tmp, warm_broker(Path(tmp)) as settings:
        os.environ.pop("PREFSTREAM_SINKS", None)
        home = Path(settings.home)
        ports = Ports.from_base(free_block())
        create_topics(settings)
        env = child_env(settings, ports, sinks_config(home, ports))
        stages = pipeline_stages(settings, ports, env)
        for stage in stages:
            stage.start(home / "logs")
        lag = None
        try:
            startup = wait_ready(stages, ports)
            os.environ["PREFSTREAM_WEB_SECRET"] = env["PREFSTREAM_WEB_SECRET"]
            local = "http://127.0.0.1:{}".format
            endpoints = Endpoints(local(ports.web), local(ports.call_center), local(ports.social), local(ports.sms))
            from producers.pos_ingest import ingest
            from producers.publisher import Publisher

            publisher = Publisher(settings, "pos")
            driver = Driver(endpoints, link_signer(ports.web),
                            lambda path: (lambda r: (len(r.accepted), len(r.rejected)))(ingest(publisher, path, "csv")), 64)
            began = time.monotonic()
            tally = asyncio.run(driver.run(Traffic(customers, seed=1), rate, seconds))
            elapsed = time.monotonic() - began
            publisher.close()
            lag = Lag(settings)
            drain_began = time.monotonic()
            while (lag() or 0) > 0 and time.monotonic() - drain_began < 300:
                time.sleep(1)
            drained = time.monotonic() - drain_began
            latency = probe_latency(endpoints.call_center, home / "sinks" / "archive.jsonl", probes, 5.0)
            rss = {stage.name: peak_rss_mb(stage.process.pid) for stage in stages}
            state = folder_size_mb(home / f"processor-{ports.processor}")
        finally:
            if lag is not None:
                lag.close()
            for stage in reversed(stages):
                stage.stop()
    return {"customers": customers, "offered_rate": rate, "seconds": round(elapsed, 1), "startup_s": round(startup, 1),
            "requests_per_s": round(tally.sent / elapsed), "accepted_per_s": round(tally.total(ACCEPTED) / elapsed),
            "counts": tally.as_dict(), "processor_drain_s": round(drained, 1), "latency": latency, "peak_rss_mb": rss,
            "processor_state_mb": state}


def markdown(result: dict[str, Any]) -> str:
    """Table rows: adapter throughput, end-to-end latency, peak RSS per process, state size."""
    latency = result["latency"]
    rss = ", ".join(f"{name} {mb}" for name, mb in result["peak_rss_mb"].items())
    return "\n".join([
        "| measure | figure | note |", "|---|---|---|",
        f"| adapters under mixed simulated traffic (offered {result['offered_rate']:g} requests/s, "
        f"{result['customers']:,} customers) "
        f"| {result['requests_per_s']:,} requests/s, {result['accepted_per_s']:,} events/s accepted "
        f"| processor drained the rest in {result['processor_drain_s']} s |",
        f"| end to end, agent call 202 to its JSON Lines sink line ({latency['received']}/{latency['probes']} probes "
        f"at {latency['rate_per_s']:g}/s) "
        f"| p50 {latency['p50_ms']} / p95 {latency['p95_ms']} / p99 {latency['p99_ms']} ms "
        f"| max {latency['max_ms']} ms (sink batches up to 0.2 s) |",
        f"| peak RSS per process, MB | {rss} | |",
        f"| processor state on disk (RocksDB), {result['customers']:,} customers | {result['processor_state_mb']} MB | |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=400)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    result = run(args.customers, args.rate, args.seconds)
    print(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    main()
