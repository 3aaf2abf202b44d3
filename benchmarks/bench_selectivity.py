"""Dissection of one batch: `DepthResponse.update` versus the reference implementation's procedure.

Shapes of the paper's MFF layers D/MFF: features 8x64x114x152 (half resolution), depth 8x1x228x304 metres,
K = 64 SID bins (NYUv2, 0.75-10 m; a few depths beyond 10 m are invalid). The reference procedure is
re-implemented from its description (InterpretableMDE's dissection): one boolean mask per bin to assign
bin indices, per-bin pixel counts, features upsampled to the depth size, then per image and per bin up
to the image's largest bin a ``torch.where`` and a sum into a float64 accumulator. All variants are
timed interleaved, repeat after repeat, so that load from other processes hits them alike.

Usage: python -m benchmarks.bench_selectivity [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mdeinterp.selectivity import DepthResponse, depth_bins, selectivity_term, sid_edges

SHAPES = "8x64x114x152 features, 8x1x228x304 depth, K=64"


def reference_procedure(features: torch.Tensor, depth: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (sums (C, K) float64, counts (K,)) the way the reference dissects one batch."""
    num_bins = len(edges) - 1
    depth_map = depth[:, 0]  # (B, H, W)
    bins = torch.full(depth_map.shape, -1, dtype=torch.long, device=depth.device)
    counts = torch.zeros(num_bins, dtype=torch.float64, device=depth.device)
    for k in range(num_bins):  # discretise and count: one boolean mask per bin over the whole batch
        mask = (depth_map > edges[k]) & (depth_map <= edges[k + 1])
        bins[mask] = k
        counts[k] = mask.sum()
    up = F.interpolate(features, size=depth_map.shape[-2:], mode="bilinear", align_corners=False)
    sums = torch.zeros(features.shape[1], num_bins, dtype=torch.float64, device=features.device)
    for i in range(depth_map.shape[0]):  # sum: per image, per bin up to the image's largest bin
        for k in range(int(bins[i].max()) + 1):
            ys, xs = torch.where(bins[i] == k)
            sums[:, k] += up[i, :, ys, xs].sum(-1)
    return sums, counts


def per_bin_loop(features: torch.Tensor, depth: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (sums, counts) with a dense mask per bin over the upsampled batch (this project's first baseline)."""
    up = F.interpolate(features, size=depth.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, H, W)
    bins = depth_bins(depth[:, 0], edges)
    num_bins = len(edges) - 1
    sums = torch.zeros(features.shape[1], num_bins, dtype=torch.float64, device=features.device)
    counts = torch.zeros(num_bins, dtype=torch.float64, device=features.device)
    for k in range(num_bins):
        mask = (bins == k).unsqueeze(1)  # (B, 1, H, W)
        sums[:, k] = (up * mask).sum(dim=(0, 2, 3)).double()
        counts[k] = mask.sum()
    return sums, counts


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on CPU. The benchmarks' timers call it around each call."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, list[float]]:
    """Return seconds per call of each function, calling them in turn ``repeats`` times (after one warm-up)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for repeat in range(repeats + 1):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if repeat:
                times[name].append(time.perf_counter() - start)
    return times


def single_thread_cpu_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Return the least CPU time per call of each function on one thread (insensitive to other processes' load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = {name: float("inf") for name in fns}
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.thread_time()
                fn()
                best[name] = min(best[name], time.thread_time() - start)
    finally:
        torch.set_num_threads(threads)
    return best


def make_batch(device: torch.device, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (features (B, 64, 114, 152), depth (B, 1, 228, 304) metres, SID edges K=64) on ``device``."""
    g = torch.Generator().manual_seed(0)
    features = torch.rand(batch, 64, 114, 152, generator=g).to(device)
    depth = (torch.rand(batch, 1, 228, 304, generator=g) * 10.5).to(device)  # a few beyond d_max: invalid
    return features, depth, sid_edges(64, 0.75, 10.0)


def accuracy(features: torch.Tensor, depth: torch.Tensor, edges: torch.Tensor) -> dict[str, float | bool]:
    """Return the largest relative error of the sums of each float32 variant against float64 products."""
    truth, true_counts = reference_procedure(features.double(), depth, edges)
    response = DepthResponse.zeros(features.shape[1], edges)
    response.update(features, depth)
    ref_sums, ref_counts = reference_procedure(features, depth, edges)

    def rel(sums: torch.Tensor) -> float:
        return float(((sums.cpu() - truth.cpu()).abs() / truth.cpu().abs().clamp_min(1e-300)).max())

    return {
        "update_rel": rel(response.sums), "reference_rel": rel(ref_sums),
        "counts_equal": bool(torch.equal(response.counts.cpu(), ref_counts.cpu()))
        and bool(torch.equal(ref_counts.cpu(), true_counts.cpu())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-loop", action="store_true", help="leave out the slow per-bin loop row")
    args = parser.parse_args()
    device = torch.device(args.device)
    features, depth, edges = make_batch(device)
    response = DepthResponse.zeros(64, edges)
    fns: dict[str, Callable[[], object]] = {
        "reference": lambda: reference_procedure(features, depth, edges),
        "update": lambda: response.update(features, depth),
    }
    if not args.skip_loop:
        fns["loop"] = lambda: per_bin_loop(features, depth, edges)
    times = interleaved(fns, args.repeats, device)
    cpu = single_thread_cpu_seconds({k: fns[k] for k in ("reference", "update")}, 3) if device.type == "cpu" else {}
    grad_features = features.clone().requires_grad_()
    loss_times = interleaved({"loss": lambda: selectivity_term(grad_features, depth, edges).backward()}, 3, device)
    check = accuracy(features, depth, edges)
    ref = statistics.median(times["reference"])

    ref_best = min(times["reference"])

    def row(label: str, key: str) -> str:
        median, best = statistics.median(times[key]), min(times[key])
        line = f"| {label} | {median:.3f} | {best:.3f} | {ref / median:.1f}x | {ref_best / best:.1f}x |"
        if cpu:
            line += f" {cpu[key]:.3f} | {cpu['reference'] / cpu[key]:.1f}x |" if key in cpu else " | |"
        return line

    print(f"{args.repeats} interleaved repeats on {device.type}, {torch.get_num_threads()} threads (wall time); "
          "CPU time: least of 3 calls on one thread\n")
    print(f"| dissection of one batch ({SHAPES}) | median s | min s | speed-up (medians) | speed-up (mins) |"
          + (" 1-thread CPU s | speed-up (CPU) |" if cpu else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|---:|" if cpu else ""))
    print(row("reference procedure (masks per bin, upsample, per image x bin `torch.where` sums)", "reference"))
    if "loop" in times:
        print(row("per-bin loop over the upsampled batch (this project's earlier baseline)", "loop"))
    print(row("`DepthResponse.update` (stencil scatter + blocked float32 matmul, float64 sums)", "update"))
    print(f"| `selectivity_term` forward + backward | {statistics.median(loss_times['loss']):.3f} | "
          f"{min(loss_times['loss']):.3f} | | |" + (" | |" if cpu else ""))
    print(f"\nlargest relative error of a sum against float64 products: `DepthResponse.update` "
          f"{check['update_rel']:.1e}, reference procedure (float32 sums) {check['reference_rel']:.1e}; "
          f"counts {'identical' if check['counts_equal'] else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
