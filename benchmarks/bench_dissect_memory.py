"""Peak memory of streaming dissection: 2,000 vs 20,000 synthetic images at the tiny preset's size.

Images are rendered on demand (RenderedDataset), so the dataset itself holds nothing; the dissection
keeps only (C, K) sums and (K,) counts per layer. Each size runs in a fresh process; peak RSS is
the process's maximum resident set size. Set BENCH_DISSECT_SIZES=200,2000 for a shorter run.
"""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import resource, sys, time, torch
from mdeinterp.analysis import dissect
from mdeinterp.config import get_preset
from mdeinterp.data.synthetic import RenderedDataset
from mdeinterp.data.transforms import split_transform
from mdeinterp.models import create_model
n = int(sys.argv[1])
data = get_preset("tiny").data
dataset = RenderedDataset(data.kind, "train", n, data.height, data.width, 0,
                          split_transform(data.height, data.width, "test", augment=False))
torch.manual_seed(0)
model = create_model("mff_tiny")
start = time.perf_counter()
result = dissect(model, dataset, ["D", "MFF"], d_min=data.d_min, d_max=data.d_max, batch_size=32, progress=False)
seconds = time.perf_counter() - start
print(n, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, float(result["D"].counts.sum()))
"""


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_DISSECT_SIZES", "2000,20000").split(",")]
    from mdeinterp.config import get_preset

    data = get_preset("tiny").data
    print(f"| images ({data.height}x{data.width}, rendered on demand) | seconds | images/s | peak RSS (MiB) | pixels binned |")
    print("|---|---|---|---|---|")
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
        count, seconds, rss, pixels = out.stdout.split()
        seconds = float(seconds)
        print(f"| {int(count):,} | {seconds:.0f} | {int(count) / seconds:.0f} | {float(rss):.0f} | {float(pixels):.3g} |")


if __name__ == "__main__":
    main()
