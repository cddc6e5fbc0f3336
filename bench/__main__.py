"""Run every bench module and print one table: ``python -m bench [--soak] [names…]``."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench import Row, table

# keys_bench runs last: its decrypt rounds start from a cold cache (see
# keys_bench._cold_cache), which would slow the others' first requests.
MODULES = ["app_bench", "hostile_bench", "slow_bench", "summary_bench", "surge_bench",
           "balance_bench",
           "keys_bench"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--soak", action="store_true", help="long runs (make soak)")
    parser.add_argument("names", nargs="*", help=f"modules to run (default: {MODULES})")
    args = parser.parse_args()
    rows: list[Row] = []
    for name in args.names or MODULES:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"bench: {name}: not present, skipped", file=sys.stderr)
            continue
        print(f"bench: running {name} …", file=sys.stderr, flush=True)
        rows += module.run(soak=args.soak)
    print(table(rows))
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
