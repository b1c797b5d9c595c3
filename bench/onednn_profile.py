#!/usr/bin/env python3
"""Where oneDNN's time goes in a run: reads oneDNN's verbose execution lines
(ONEDNN_VERBOSE=1 for oneDNN 2.x, =profile_exec for 3.x) on stdin and prints, per primitive, implementation
and problem, the calls and milliseconds per step, largest first.

    ONEDNN_VERBOSE=1 stride bench train --config C --steps 50 --warmup 10 2>&1 |
        bench/onednn_profile.py --steps 60

Stride's own loops (optimizer, loss, dropout) do not appear: `stride bench ops`
times every op of a step, oneDNN's and Stride's alike."""
import argparse
import collections
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, required=True, help="training steps the run made (warm-up included)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    totals = collections.defaultdict(lambda: [0, 0.0])
    for line in sys.stdin:
        fields = line.strip().split(",")
        if len(fields) < 6 or "exec" not in fields[:3]:
            continue
        start = fields.index("exec")
        # onednn_verbose,exec,cpu,<primitive>,<impl>,<prop>,<formats>,<attrs>,<aux>,<problem>,<time>
        primitive, impl, prop = fields[start + 2], fields[start + 3], fields[start + 4]
        problem, time_ms = fields[-2], float(fields[-1])
        entry = totals[(primitive, impl, prop, problem)]
        entry[0] += 1
        entry[1] += time_ms
    rows = sorted(totals.items(), key=lambda item: -item[1][1])
    step_total = sum(v[1] for v in totals.values()) / args.steps
    print(f"{'ms/step':>8} {'share':>6} {'calls':>6}  primitive / implementation / propagation / problem")
    for (primitive, impl, prop, problem), (calls, ms) in rows[: args.top]:
        print(f"{ms / args.steps:8.3f} {ms / args.steps / step_total:6.1%} {calls / args.steps:6.1f}  "
              f"{primitive} {impl} {prop} {problem}")
    print(f"{step_total:8.3f} ms per step in oneDNN primitives")


if __name__ == "__main__":
    main()
