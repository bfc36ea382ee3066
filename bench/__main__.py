"""`make bench`: runs `main()` of every `bench/*_bench.py` module in turn."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def run() -> None:
    here = Path(__file__).parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(here)])):
        if module.endswith("_bench"):
            print(f"== bench.{module}")
            importlib.import_module(f"bench.{module}").main()


if __name__ == "__main__":
    run()
