"""`make bench`: every benchmark side by side in one run; writes bench-results/bench.json (all
figures), bench-results/bench.md (the Markdown tables) and each part's own JSON file.

Parts: fold (no broker), broker ceiling (Kafka's own perf tools), processor beside the plain
confluent-kafka loop, the whole pipeline (adapter throughput, end-to-end latency, peak RSS per
process, state on disk), and replay, sinks and web when their modules are there. Budget: under
15 minutes on the loaded 2-core development machine.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path("bench-results")


def parts() -> list[tuple[str, str, Callable[[Any], dict[str, Any]]]]:
    """(name, module, how to run it) in running order."""
    return [
        ("fold", "tests.bench.bench_fold", lambda m: m.run(100_000, 10_000)),
        ("broker", "tests.bench.bench_broker", lambda m: m.run(200_000)),
        ("processor", "tests.bench.bench_processor", lambda m: m.run(50_000, 5_000, rate=1000, seconds=20.0)),
        ("pipeline", "tests.bench.bench_pipeline", lambda m: m.run(2000, 400, 20)),
        ("replay", "tests.bench.bench_replay", lambda m: m.run()),
        ("sinks", "tests.bench.bench_sinks", lambda m: m.run()),
        ("web", "tests.bench.bench_web", lambda m: m.run()),
    ]


def main() -> None:
    """Run every part, print and write its figures; a missing or failing part is named and the
    others still run, but the exit status is then non-zero."""
    RESULTS.mkdir(exist_ok=True)
    began = time.monotonic()
    results: dict[str, Any] = {}
    tables: list[str] = []
    for name, module_name, call in parts():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            print(f"{name}: skipped, {module_name} is not there yet")
            continue
        started = time.monotonic()
        try:
            result = call(module)
        except Exception as error:  # noqa: BLE001 - one part failing must not lose the others
            print(f"{name}: FAILED: {type(error).__name__}: {error}")
            results[name] = {"error": f"{type(error).__name__}: {error}"}
            continue
        result["bench_seconds"] = round(time.monotonic() - started, 1)
        results[name] = result
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        table = module.markdown(result)
        tables.append(f"### {name} ({result['bench_seconds']} s)\n\n{table}")
        print(tables[-1] + "\n", flush=True)
    results["total_seconds"] = round(time.monotonic() - began, 1)
    (RESULTS / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    command = "make bench  (.venv/bin/python -m tests.bench)"
    (RESULTS / "bench.md").write_text(f"Reproduce: `{command}`; whole run {results['total_seconds']} s\n\n" + "\n\n".join(tables) + "\n")
    print(f"whole benchmark: {results['total_seconds']} s; wrote {RESULTS}/bench.json and {RESULTS}/bench.md")
    missing = [name for name, _, _ in parts() if "error" in results.get(name, {"error": "skipped"})]
    if missing:
        raise SystemExit(f"incomplete: {', '.join(missing)} failed or did not run")


if __name__ == "__main__":
    main()
