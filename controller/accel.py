"""The backtest's hot path, compiled: optional, and only ever the very same source.

`make accel` compiles the modules a simulation spends its time in (MODULES) with mypyc into
.accel/ beside the package, and stamps the hash of each source it compiled. A command that
wants them (`agentdash simulate`, benchmarks/simulate.py) calls `use_compiled()` before it
imports them: they are used only if every source is unchanged since the build, so an edited
policy never runs as its stale compiled self. Without a build (no C compiler, say), or with
AGENTDASH_PURE=1, everything runs as plain Python, with the same results, about twice slower.
The live loop and the tests always run plain Python.

    python -m controller.accel    # what `make accel` runs
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import controller
import controller.core
import controller.simulate

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".accel"
MODULES = (
    "controller/core/record.py",
    "controller/core/model_records.py",
    "controller/core/policy.py",
    "controller/core/held_claims.py",
    "controller/core/demand.py",
    "controller/core/time_rules.py",
    "controller/core/keepalive_words.py",
    "controller/core/allocation.py",
    "controller/core/room.py",
    "controller/core/shortfall.py",
    "controller/core/history.py",
    "controller/core/history_writer.py",
    "controller/core/keepalive.py",
    "controller/core/keepalive_levels.py",
    "controller/core/keepalive_merge.py",
    "controller/core/ski_rental.py",
    "controller/core/tail.py",
    "controller/core/spend_profile.py",
    "controller/core/spend.py",
    "controller/core/spend_read.py",
    "controller/core/budget.py",
    "controller/core/budget_words.py",
    "controller/core/budget_price.py",
    "controller/core/budget_one_replica.py",
    "controller/core/budget_unpriced.py",
    "controller/core/budget_uncounted.py",
    "controller/core/burn.py",
    "controller/core/spend_samples.py",
    "controller/core/engine.py",
    "controller/core/tenant_tokens.py",
    "controller/core/pace_reads.py",
    "controller/core/pool_prices.py",
    "controller/core/sharing.py",
    "controller/core/tracked.py",
    "controller/core/timers.py",
    "controller/simulate/shell.py",
    "controller/simulate/scale_calls.py",
    "controller/simulate/cluster_parts.py",
    "controller/simulate/pods.py",
    "controller/simulate/task_queues.py",
    "controller/simulate/cluster.py",
    "controller/simulate/clock.py",
)


STAMPED = (*MODULES, "controller/simulate/trace.py")
"""The sources a build is good for: MODULES, and the trace whose columns' type the compiled
cluster checks at run time (a build from before it changed raises TypeError on every trace)."""


def _hashes() -> dict[str, str]:
    return {m: hashlib.sha256((ROOT / m).read_bytes()).hexdigest() for m in STAMPED}


def built() -> bool:
    """Whether compiled modules exist for exactly the sources as they are now."""
    try:
        stamp = json.loads((BUILD / "stamp.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("python") == sys.implementation.cache_tag and stamp.get("sources") == _hashes()
    )


def use_compiled() -> bool:
    """Let the next imports of MODULES load their compiled build, if it is fresh; whether
    they will. Modules imported already stay as they are."""
    if os.environ.get("AGENTDASH_PURE") or not built():
        return False
    # Every package holding a compiled module looks in the build first. A package left out
    # would load its modules' plain source when a plain module (budget.py, say) imports them,
    # and the compiled ones would then meet two classes of one name (TypeError).
    for package in (controller, controller.core, controller.simulate):
        name = package.__name__.replace(".", "/")
        where = str(BUILD / name)
        if where not in package.__path__:
            package.__path__.insert(0, where)
    if str(BUILD) not in sys.path:
        sys.path.append(str(BUILD))  # mypyc's shared runtime module lives at the top
    return True


def build() -> int:
    """Compile MODULES with mypyc into BUILD; 0 on success."""
    hashes = _hashes()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(
            ROOT / "controller",
            work / "controller",
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
        )
        shutil.copy2(ROOT / "pyproject.toml", work)  # mypy's settings
        print(f"accel: compiling {len(MODULES)} modules with mypyc (half a minute or so)...")
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", *MODULES],
            cwd=work,
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            print("accel: mypyc failed; the backtest runs as plain Python", file=sys.stderr)
            return done.returncode
        shutil.rmtree(BUILD, ignore_errors=True)
        # The compiled modules, and at the top mypyc's shared runtime (not build/'s copies).
        for library in [*work.glob("*.so"), *(work / "controller").rglob("*.so")]:
            target = BUILD / library.relative_to(work)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(library, target)
    stamp = {"python": sys.implementation.cache_tag, "sources": hashes}
    (BUILD / "stamp.json").write_text(json.dumps(stamp, indent=2) + "\n")
    print(f"accel: compiled {len(MODULES)} modules into {BUILD}")
    return 0


if __name__ == "__main__":
    sys.exit(build())
