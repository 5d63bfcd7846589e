"""What loading a trace file costs: seconds, and memory a task, for 100,000 and 1,000,000 tasks.

The traces are generated for the backtest benchmark's fleet (100 pools, a bursty day) and
written twice: in time order, as `agentdash simulate --generate` writes them, and shuffled,
which makes the loader sort. Each load runs in a fresh process, REPEAT times for the seconds
(plain `load_trace`, nothing traced) and once more under tracemalloc for its peak: the most
memory Python held at once while loading, over what it held before, and what the Trace keeps
afterwards. The resident set's high-water mark over the start (VmHWM) is printed too: it
counts what Python's allocator did not give back, so it is the figure the machine feels.

    python benchmarks/trace_memory.py [TASKS ...]
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# The backtest benchmark's fleet: this script's folder, benchmarks/, is on the path.
from simulate import HOURS, SEED, fleet

from controller.simulate.generate import generate
from controller.simulate.trace import load_trace, write_trace

REPEAT = 3


def _memory(field: str) -> int:
    """VmRSS (the resident set now) or VmHWM (its high-water mark) of this process, in bytes.
    Not ru_maxrss: Linux carries that over from the parent, which holds the generated trace."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise LookupError(field)


def measure(path: str, traced: bool) -> dict[str, float]:
    """One load in this process: seconds and RSS growth, or (traced) tracemalloc's peak."""
    config = fleet()
    if traced:
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        trace = load_trace(path, config)
        kept, peak = tracemalloc.get_traced_memory()
        return {"tasks": len(trace), "peak": peak - before, "kept": kept - before}
    rss = _memory("VmRSS")
    start = time.perf_counter()
    trace = load_trace(path, config)
    seconds = time.perf_counter() - start
    return {"tasks": len(trace), "seconds": seconds, "rss": _memory("VmHWM") - rss}


def in_fresh_process(path: Path, traced: bool) -> dict[str, float]:
    argv = [sys.executable, __file__, "--load", str(path)] + (["--traced"] if traced else [])
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out))


def report(name: str, path: Path) -> None:
    runs = [in_fresh_process(path, traced=False) for _ in range(REPEAT)]
    memory = in_fresh_process(path, traced=True)
    tasks = memory["tasks"]
    seconds = sorted(run["seconds"] for run in runs)
    rss = statistics.median(run["rss"] for run in runs)
    print(
        f"  {name:<10} {seconds[0]:5.2f} to {seconds[-1]:5.2f} s, "
        f"peak {memory['peak'] / tasks:5.0f} B a task ({memory['peak'] / 2**20:6.1f} MiB), "
        f"kept {memory['kept'] / tasks:4.0f} B a task, "
        f"RSS +{rss / tasks:4.0f} B a task ({rss / 2**20:6.1f} MiB)",
        flush=True,
    )


def main(sizes: list[int]) -> None:
    config = fleet()
    print(f"load_trace, {REPEAT} fresh processes each (seconds: fastest to slowest), plus one "
          f"under tracemalloc")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            trace = generate(config, "bursty", HOURS, SEED, tasks=size)
            ordered, shuffled = Path(tmp) / "ordered.jsonl", Path(tmp) / "shuffled.jsonl"
            with ordered.open("w") as out:
                write_trace(trace, out)
            lines = ordered.read_text().splitlines(keepends=True)
            random.Random(SEED).shuffle(lines)
            shuffled.write_text("".join(lines))
            del lines
            print(f"{len(trace):,} tasks, {ordered.stat().st_size / 2**20:.0f} MiB of JSON lines:")
            report("in order", ordered)
            report("shuffled", shuffled)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        print(json.dumps(measure(sys.argv[2], traced="--traced" in sys.argv)))
    else:
        main([int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000])
