"""`make bench-peers`: runs `main()` of each peer comparison in turn, prints the ratios and
writes every module's figures to bench/results/peers.json."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

# One line per comparison; each module's main() returns its figures with a "ratios" mapping.
MODULES = [
    "bench.peers.graphql_reads",
]

RESULTS = Path(__file__).resolve().parent.parent / "results" / "peers.json"


def run() -> None:
    results: dict[str, Any] = {}
    for module in MODULES:
        print(f"== {module}", flush=True)
        results[module.rsplit(".", 1)[-1]] = importlib.import_module(module).main()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("== ratios (ours / the peer's; requests per second, higher is better for us)")
    for name, figures in results.items():
        skipped = figures.get("skipped")
        if skipped:
            print(f"  {name}: peer not measured: {skipped}")
        for key, ratio in figures.get("ratios", {}).items():
            print(f"  {name}.{key}: {ratio}x")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    run()
