"""py-spy on a server process during a measured window, and where its CPU went (self time per
function). Used by bench/ws_fanout.py (`--profile`) and bench/compare.py (the gochat step that fell
behind, so every target missed comes with a profile)."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

Spy = tuple[subprocess.Popen[bytes], Path]


def start(pid: int, seconds: float, tag: str) -> Spy | None:
    """Sample `pid` for `seconds` in the background (None, with a note, when py-spy is absent)."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        print("note: py-spy not installed (pip install py-spy): no profile", flush=True)
        return None
    out = Path(f"/tmp/gochat-bench-{tag}-{os.getpid()}.txt")
    cmd = [str(exe), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
    cmd += ["--rate", "250", "--format", "raw", "--nonblocking", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT), out


def summary(spy: Spy, top: int = 25) -> list[tuple[str, float]]:
    """Share of the server's busy samples per function (self time of the innermost frame), most
    first, then ("(samples)", how many)."""
    proc, path = spy
    proc.wait(timeout=120)
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        own[short(stack.rsplit(";", 1)[-1])] += n
    return [(name, round(100 * n / max(total, 1), 1)) for name, n in own.most_common(top)] + [
        ("(samples)", float(total))
    ]


def short(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module.py)`."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})"
