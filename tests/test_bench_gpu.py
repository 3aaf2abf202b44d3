"""The GPU benchmark script runs on CPU with --smoke, so it cannot rot while no GPU is lent."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["(a) training, MFF", "(b) training, MFF, bf16 autocast + channels_last", "(c) dissection",
            "(d) end to end", "(e) training, BTS", "(f) training, CSPN"]


def _number(line: str) -> float:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return float(re.sub(r"x$", "", cells[-1] if len(cells) == 2 else cells[1]))


def test_gpu_benchmark_smoke_writes_every_section_with_numbers(tmp_path):
    out = tmp_path / "results-gpu.md"
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--smoke", "--device", "cpu", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert "make bench-gpu" in text
    parts = text.split("\n## ")
    titles = [part.splitlines()[0] for part in parts[1:]]
    assert len(titles) == len(SECTIONS) and all(t.startswith(s) for t, s in zip(titles, SECTIONS)), titles
    for part in parts[1:]:
        rows = [line for line in part.splitlines() if line.startswith("| ") and not line.startswith("| what")
                and not line.startswith("| variant")]
        numbers = []
        for row in rows:
            try:
                numbers.append(_number(row))
            except ValueError:
                pass
        assert len(numbers) >= 2, part
    # training sections: two variants with images/s > 0 and the time ratio of the second
    for part in (parts[1], parts[2], parts[5], parts[6]):
        ratios = re.findall(r"\| ([\d.]+) \| ([\d.]+) \| \d+ \|", part)
        assert len(ratios) == 2 and all(float(rate) > 0 for rate, _ in ratios), part
    dissection = parts[3]
    assert "| counts identical | yes |" in dissection
    speedup = float(re.search(r"over the reference procedure \| ([\d.]+)x", dissection).group(1))
    assert speedup > 1
    assert "| model and returned tensors on cpu throughout | yes |" in parts[4]
