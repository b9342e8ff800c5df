"""`make bench`: run the benchmarks and write bench-results/fold.json.

So far only the fold benchmark exists (decode + fold + encode beside decode-only). The processor
benchmark beside a plain confluent-kafka loop (issue 4) and the pipeline benchmark (issue 8) are still to come.
"""

import json
from pathlib import Path

from tests.bench.bench_fold import run

results = Path("bench-results")
results.mkdir(exist_ok=True)
result = run(100_000, 10_000)
for key, value in result.items():
    print(f"{key:34} {value}")
(results / "fold.json").write_text(json.dumps(result, indent=2) + "\n")
