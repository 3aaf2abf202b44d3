"""Run every benchmarks/bench_*.py (or those named on the command line) and collect their Markdown output."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    header = (
        f"# Benchmarks\n\n{datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU only'}\n"
    )
    sections = [header]
    for script in scripts:
        print(f"== {script.name}", flush=True)
        result = subprocess.run([sys.executable, "-m", f"benchmarks.{script.stem}"], cwd=HERE.parent,
                                capture_output=True, text=True)
        print(result.stdout, end="")
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            sections.append(f"## {script.stem}\n\nFAILED (exit {result.returncode})\n")
        else:
            sections.append(f"## {script.stem}\n\n{result.stdout}")
    out = HERE / ("results.md" if not argv else f"results_{'_'.join(argv)}.md")
    out.write_text("\n".join(sections))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
