"""Installs the peers the bench runs against, on first use: python-socketio into this Python, and
Socket.IO for Node under bench/peers/node/node_modules (npm, from the lock-free package.json)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent / "node"
PY_PACKAGES = {"socketio": "python-socketio>=5.11,<6", "matplotlib": "matplotlib>=3.8,<4"}


def ensure_python(*modules: str) -> None:
    missing = [PY_PACKAGES[m] for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"installing {', '.join(missing)} for the bench ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)


def ensure_node() -> str:
    """The path of `node`, with socket.io installed next to server.js; raises when Node is absent."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed for the Socket.IO-on-Node peer")
    if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
        print("installing socket.io (npm) for the bench ...", flush=True)
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    return node
