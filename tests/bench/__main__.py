"""`make bench`: run the benchmarks and write bench-results/fold.json and bench-results/processor.json.

- fold: decode + fold + encode, and the processor's per-event path with the state codec, beside
  decode-only, on one core (no broker);
- processor (issue 4): one real worker beside a plain confluent-kafka consume-fold-produce loop,
  and end-to-end latency at 1,000 events/s, on the broker in KAFKA_BOOTSTRAP or a local one it
  starts and stops (2 to 3 minutes on the loaded 2-core development machine).

The pipeline benchmark (issue 8) is still to come.
"""

import json
import time
from pathlib import Path

from tests.bench import bench_fold, bench_processor

results = Path("bench-results")
results.mkdir(exist_ok=True)
result = bench_fold.run(100_000, 10_000)
for key, value in result.items():
    print(f"{key:34} {value}")
(results / "fold.json").write_text(json.dumps(result, indent=2) + "\n")

began = time.monotonic()
processor = bench_processor.run(50_000, 5_000, rate=1000, seconds=20.0)
print()
print(bench_processor.markdown(processor))
print(f"(processor benchmark: {time.monotonic() - began:.0f} s)")
(results / "processor.json").write_text(json.dumps(processor, indent=2) + "\n")
