"""Closing the loop, end to end: the three benchmarks of issue 25 in one command.

``python -m benchmarks.loop [--quick]`` runs, each in its own process and with the same flag:

- ``benchmarks.loop_slo``: burn-rate alerts (a 2% segment burning its budget at >= 2x alerts
  within one slow window; a stationary segment at half its objective stays within its share of
  the false-alarm budget over 50 weeks; one alert per problem);
- ``benchmarks.loop_proposals``: the threshold a proposal recommends, on synthetic segments with
  known gap curves (linear, convex, concave): how often the realised excess gap breaks the target
  and the share of the savings it keeps against the best fixed-margin rule;
- ``benchmarks.loop_changes``: how fast a bad router change is flagged, and how often a neutral
  one is.

Each section prints its own figures with PASS/FAIL per target; this runner prints a summary
and exits non-zero when any section failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

SECTIONS = ("benchmarks.loop_slo", "benchmarks.loop_proposals", "benchmarks.loop_changes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="each section's quick mode")
    args = parser.parse_args()
    results: list[tuple[str, int, float]] = []
    for module in SECTIONS:
        command = [sys.executable, "-m", module] + (["--quick"] if args.quick else [])
        print(f"\n=== {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command)
        results.append((module, code, time.perf_counter() - started))
    print("\n=== summary")
    for module, code, seconds in results:
        print(f"{'PASS' if code == 0 else 'FAIL'}  {module}  ({seconds:.0f} s, exit {code})")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
