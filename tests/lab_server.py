"""A headless JupyterLab server for the tests that talk to one (test_notebooks, test_browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_lab(root_dir: Path, port: int, token: str, state: Path) -> subprocess.Popen:
    """Start JupyterLab on ``root_dir`` at 127.0.0.1:``port``; its runtime, config, workspaces and log go to ``state``,
    so nothing of the user's own Jupyter set-up takes part."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(state / "runtime"), "JUPYTER_CONFIG_DIR": str(state / "config"),
           "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"), "OMP_NUM_THREADS": "1"}
    jupyter = Path(sys.executable).with_name("jupyter")
    return subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
         "--LabApp.news_url=", *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=open(state / "server.log", "w"))


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
