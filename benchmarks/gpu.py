"""GPU benchmarks (`make bench-gpu`): training and dissection throughput at the paper's sizes, and one run end to end.

Sections, each a Markdown table in the output file (default benchmarks/results-gpu.md):

(a) mff_resnet50 at 228x304, batch 8: training images/s without and with the selectivity term on D+MFF
    (goal: <= 1.05x the time), peak memory.
(b) the same with bf16 autocast and channels_last (TrainConfig amp and channels_last; the objective is
    computed in float32 on the float32 casts of the prediction and the activations).
Training sections time `mdeinterp.train.training_step`, the training loop's own step (benchmarks/trainstep.py),
and count the host synchronisations of one step with CUDA's sync debug mode.
(c) dissection throughput of D+MFF at 228x304 (images/s through `dissection.dissect`), and
    `DepthResponse.update` against the reference implementation's procedure (benchmarks/bench_selectivity.py)
    at 8x64x114x152 features, 8x1x228x304 depth, K = 64.
(d) a 300-step run of paper_mff_resnet50's architecture on synthetic 228x304 indoor scenes (`train`),
    then dissect and evaluate on the same device; checks that the model and every returned tensor stay
    on the device, and (on CUDA) that the selectivity term makes no host synchronisation.
(e) bts_densenet161 at 416x544, batch 4, as (a), the term on the preset's layers.
(f) cspn_resnet50 (depth completion: RGB + 500 sparse depths) at 228x304, batch 8, as (a), the term on
    layer3+layer4 (paper_cspn_nyu).

Usage: python -m benchmarks.gpu [--device cuda] [--out benchmarks/results-gpu.md]
       python -m benchmarks.gpu --smoke --out /tmp/gpu-smoke.md   # tiny models and sizes, CPU, ~1 minute
Runs unattended; expected 3-5 minutes on one H100 (budget: 8 minutes; not yet measured, no GPU was lent).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.bench_selectivity import interleaved, reference_procedure, sync
from benchmarks.trainstep import StepTimer
from mdeinterp import inference
from mdeinterp.config import build_config
from mdeinterp.dissection import dissect
from mdeinterp.inference import evaluate
from mdeinterp.models import create_model
from mdeinterp.run import Run, dissection_data
from mdeinterp.selectivity import DepthResponse, sid_edges
from mdeinterp.train import train

HERE = Path(__file__).resolve().parent
COMMAND = "make bench-gpu  # = .venv/bin/python -m benchmarks.gpu --device cuda --out benchmarks/results-gpu.md"


@dataclass(frozen=True)
class Sizes:
    """What each section runs: the paper's models and sizes, or tiny ones for the CPU smoke test."""

    mff: str = "mff_resnet50"
    mff_preset: str = "paper_mff_resnet50"
    mff_hw: tuple[int, int] = (228, 304)
    mff_batch: int = 8
    bts: str = "bts_densenet161"
    bts_preset: str = "paper_bts_nyu"
    bts_hw: tuple[int, int] = (416, 544)
    bts_batch: int = 4
    cspn: str = "cspn_resnet50"
    cspn_preset: str = "paper_cspn_nyu"
    cspn_hw: tuple[int, int] = (228, 304)
    cspn_batch: int = 8
    warmup: int = 5  # untimed steps (allocator, cuDNN autotuning)
    steps: int = 20  # timed steps per variant
    dissect_images: int = 256
    update_batch: int = 8  # (c): images per batch of the update-vs-reference comparison
    update_repeats: int = 5
    run_steps: int = 300
    run_train_images: int = 2400  # 300 steps of 8
    run_test_images: int = 200
    run_dissect_images: int = 400


PAPER = Sizes()
SMOKE = Sizes(mff="mff_tiny", mff_preset="tiny", mff_hw=(64, 96), mff_batch=4, bts="bts_tiny", bts_preset="tiny_bts",
              bts_hw=(64, 96), bts_batch=2, cspn="cspn_tiny", cspn_preset="tiny_cspn", cspn_hw=(64, 96), cspn_batch=2,
              warmup=1, steps=2, dissect_images=8, update_batch=1, update_repeats=1,
              run_steps=2, run_train_images=8, run_test_images=4, run_dissect_images=8)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float:
    """Return peak memory in MiB: allocated GPU memory on CUDA, the process's peak resident set on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def images_per_second(timer: StepTimer, warmup: int, steps: int) -> tuple[float, float]:
    """Return (images/s from the median of ``steps`` timed steps, peak memory MiB)."""
    for _ in range(warmup):
        timer.step()
    sync(timer.device)
    reset_peak(timer.device)
    seconds = statistics.median(timer.seconds() for _ in range(steps))
    return timer.config.batch_size / seconds, peak_mib(timer.device)


def training_section(title: str, preset: str, arch: str, hw: tuple[int, int], batch: int, sizes: Sizes,
                     device: torch.device, fast: bool) -> str:
    """Return a Markdown section: images/s and peak memory of `training_step` without and with the selectivity term."""
    rows, syncs = {}, None
    for alpha in (0.0, 0.1):
        config = build_config(preset, model=arch, height=hw[0], width=hw[1], batch_size=batch, alpha=alpha,
                              amp=fast, channels_last=fast, device=str(device))
        timer = StepTimer(config, device)
        if alpha:
            timer.step()  # first step: bin edges and interpolation stencils are copied to the device once
            syncs = timer.host_syncs()  # CUDA's sync debug mode over one whole step
        rows[alpha] = images_per_second(timer, sizes.warmup, sizes.steps)
        layers = "+".join(config.layers)
        del timer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    (base, base_mem), (sel, sel_mem) = rows[0.0], rows[0.1]
    variant = "bf16 autocast + channels_last (TrainConfig amp, channels_last)" if fast else "float32"
    if syncs is None:
        sync_line = "not checked (CPU)"
    else:
        sync_line = f"{len(syncs)} (torch.cuda.set_sync_debug_mode('warn'))" + "".join(f"; {s}" for s in syncs)
    lines = [
        f"## {title}\n",
        f"{arch}, {hw[0]}x{hw[1]}, batch {batch}, {variant}, random init, `mdeinterp.train.training_step` (the "
        f"training loop's step), median of {sizes.steps} steps after {sizes.warmup} warm-up steps\n",
        "| variant | images/s | time ratio | peak memory (MiB) |",
        "|---|---:|---:|---:|",
        f"| baseline (alpha = 0) | {base:.1f} | 1.00 | {base_mem:.0f} |",
        f"| selectivity term on {layers} (alpha = 0.1) | {sel:.1f} | {base / sel:.2f} | {sel_mem:.0f} |",
        "",
        "host synchronisations in one training step with the term (forward, objective, backward, optimiser): "
        + sync_line,
    ]
    return "\n".join(lines) + "\n"


def random_scenes(count: int, hw: tuple[int, int], d_min: float, d_max: float) -> list[dict]:
    """Return ``count`` samples of random images and depth in metres (CPU), as a dataset would."""
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.randn(3, *hw, generator=g),
             "depth": torch.empty(1, *hw).uniform_(d_min, d_max, generator=g)} for _ in range(count)]


def dissection_section(sizes: Sizes, device: torch.device) -> str:
    """Return a Markdown section: dissect throughput and DepthResponse.update against the reference procedure."""
    config = build_config(sizes.mff_preset)
    model = create_model(sizes.mff, pretrained=None)
    data = random_scenes(sizes.dissect_images, sizes.mff_hw, config.data.d_min, config.data.d_max)
    sid = dict(d_min=config.data.d_min, d_max=config.data.d_max)
    dissect(model, data[: sizes.mff_batch], ["D", "MFF"], device=device, batch_size=sizes.mff_batch,
                     progress=False, **sid)  # warm-up
    sync(device)
    start = time.perf_counter()
    result = dissect(model, data, ["D", "MFF"], device=device, batch_size=sizes.mff_batch, progress=False, **sid)
    sync(device)
    dissect_rate = len(data) / (time.perf_counter() - start)
    assert all(p.device.type == device.type for p in model.parameters())
    selectivity = {name: float(result[name].selectivity.mean()) for name in result}

    g = torch.Generator().manual_seed(0)
    features = torch.rand(sizes.update_batch, 64, 114, 152, generator=g).to(device)
    depth = (torch.rand(sizes.update_batch, 1, 228, 304, generator=g) * 10.5).to(device)
    edges = sid_edges(64, 0.75, 10.0)
    response = DepthResponse.zeros(64, edges, device=device)
    timings = interleaved({"reference": lambda: reference_procedure(features, depth, edges.to(device)),
                           "update": lambda: response.update(features, depth)}, sizes.update_repeats, device)
    ref_sums, ref_counts = reference_procedure(features.double(), depth, edges.to(device))
    check = DepthResponse.zeros(64, edges, device=device)
    check.update(features, depth)
    rel = float(((check.sums - ref_sums).abs() / ref_sums.abs().clamp_min(1e-300)).max())
    same_counts = bool(torch.equal(check.counts, ref_counts))
    reference, update = statistics.median(timings["reference"]), statistics.median(timings["update"])
    lines = [
        "## (c) dissection\n",
        f"{sizes.mff} (random init), D+MFF, {sizes.mff_hw[0]}x{sizes.mff_hw[1]}, batch {sizes.mff_batch}, "
        f"{len(data)} images through `dissection.dissect` (forward pass, hooks, loading included)\n",
        "| what | value |",
        "|---|---:|",
        f"| dissection throughput (images/s) | {dissect_rate:.1f} |",
        *(f"| mean selectivity of {name} (untrained) | {value:.3f} |" for name, value in selectivity.items()),
        f"| reference procedure, one batch of {sizes.update_batch}x64x114x152 features (s) | {reference:.4f} |",
        f"| `DepthResponse.update`, same batch (s) | {update:.4f} |",
        f"| speed-up of `DepthResponse.update` over the reference procedure | {reference / update:.1f}x |",
        f"| largest relative difference of sums vs float64 reference | {rel:.1e} |",
        f"| counts identical | {'yes' if same_counts else 'NO'} |",
    ]
    return "\n".join(lines) + "\n"


def end_to_end_section(sizes: Sizes, device: torch.device, work: Path) -> str:
    """Return a Markdown section: a short training run on synthetic scenes, then dissect and evaluate on ``device``."""
    (work / "data").mkdir(parents=True, exist_ok=True)
    config = build_config(
        sizes.mff_preset, model=sizes.mff, pretrained=None, data=str(work / "data"), format="synthetic",
        kind="indoor", height=sizes.mff_hw[0], width=sizes.mff_hw[1], n_train=sizes.run_train_images,
        n_test=sizes.run_test_images, batch_size=sizes.mff_batch, epochs=1, max_steps=sizes.run_steps, alpha=0.1,
        layers="D,MFF", device=str(device), num_workers=8 if device.type == "cuda" else 0,
    )
    # rendering the scenes into the cache is set-up, not training: do it before the clock starts
    from mdeinterp.data import make_dataset

    start = time.perf_counter()
    make_dataset(config.data, "train", progress=False)
    make_dataset(config.data, "test", progress=False)
    render_seconds = time.perf_counter() - start
    start = time.perf_counter()
    run_dir = train(config, out=work / "runs", name="e2e", progress=False)
    sync(device)
    train_seconds = time.perf_counter() - start
    run = Run.from_dir(run_dir)
    model, config = run.model(str(device)), run.config
    start = time.perf_counter()
    dissection = dissect(model, dissection_data(config, "train"), ["D", "MFF"], device=device,
                                  batch_size=sizes.mff_batch, max_images=sizes.run_dissect_images, progress=False)
    sync(device)
    dissect_seconds = time.perf_counter() - start
    on_device = all(p.device.type == device.type for p in model.parameters())
    start = time.perf_counter()
    metrics = evaluate(model, make_dataset(config.data, "test", progress=False), config.data.d_max,
                       batch_size=sizes.mff_batch, device=device)
    sync(device)
    eval_seconds = time.perf_counter() - start
    on_device &= all(p.device.type == device.type for p in model.parameters())
    pred, depth = next(iter(inference.predict_depth(model, dissection_data(config, "test"), batch_size=2, device=device,
                                             max_images=2)))
    on_device &= pred.device.type == device.type and depth.device.type == device.type
    summary = dissection.summary()
    lines = [
        "## (d) end to end: train, dissect, evaluate\n",
        f"{sizes.mff} (random init, the architecture of {sizes.mff_preset}) on synthetic indoor scenes at "
        f"{sizes.mff_hw[0]}x{sizes.mff_hw[1]}, batch {sizes.mff_batch}, {sizes.run_steps} steps, "
        f"selectivity term on D+MFF (alpha 0.1), device {device}\n",
        "| what | value |",
        "|---|---:|",
        f"| rendering {sizes.run_train_images} + {sizes.run_test_images} scenes (s) | {render_seconds:.1f} |",
        f"| training, {sizes.run_steps} steps + one evaluation (s) | {train_seconds:.1f} |",
        f"| training steps/s (incl. evaluation) | {sizes.run_steps / train_seconds:.2f} |",
        f"| dissection of {sizes.run_dissect_images} training images, D+MFF (s) | {dissect_seconds:.1f} |",
        f"| evaluation of {sizes.run_test_images} test images (s) | {eval_seconds:.1f} |",
        *(f"| mean selectivity of {row.layer} | {row.mean_selectivity:.3f} |" for row in summary.itertuples()),
        f"| test delta1 | {metrics['d1']:.3f} |",
        f"| test AbsRel | {metrics['abs_rel']:.3f} |",
        f"| test RMSE (m) | {metrics['rmse']:.3f} |",
        f"| model and returned tensors on {device.type} throughout | {'yes' if on_device else 'NO'} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny models and sizes (CPU test of this script)")
    parser.add_argument("--out", default=str(HERE / "results-gpu.md"))
    parser.add_argument("--sections", default="abcdef", help="which sections to run, e.g. 'ac'")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sizes = SMOKE if args.smoke else PAPER
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    started = time.perf_counter()
    sections = [
        f"# GPU benchmarks{' (smoke test: tiny models and sizes)' if args.smoke else ''}\n",
        f"{datetime.date.today()}, {name}, torch {torch.__version__}, {platform.machine()}; produced by\n",
        f"    {COMMAND}\n",
    ]
    builders = {
        "a": lambda: training_section("(a) training, MFF", sizes.mff_preset, sizes.mff, sizes.mff_hw,
                                      sizes.mff_batch, sizes, device, fast=False),
        "b": lambda: training_section("(b) training, MFF, bf16 autocast + channels_last", sizes.mff_preset,
                                      sizes.mff, sizes.mff_hw, sizes.mff_batch, sizes, device, fast=True),
        "c": lambda: dissection_section(sizes, device),
        "d": lambda: end_to_end_section(sizes, device, Path(work)),
        "e": lambda: training_section("(e) training, BTS", sizes.bts_preset, sizes.bts, sizes.bts_hw,
                                      sizes.bts_batch, sizes, device, fast=False),
        "f": lambda: training_section("(f) training, CSPN (depth completion)", sizes.cspn_preset, sizes.cspn,
                                      sizes.cspn_hw, sizes.cspn_batch, sizes, device, fast=False),
    }
    with tempfile.TemporaryDirectory(prefix="mdeinterp-gpu-") as work:
        for key in args.sections:
            start = time.perf_counter()
            print(f"== section ({key})", flush=True)
            text = builders[key]()
            print(text, flush=True)
            sections.append(text + f"\n({time.perf_counter() - start:.0f} s)\n")
    sections.append(f"Total: {time.perf_counter() - started:.0f} s.\n")
    Path(args.out).write_text("\n".join(sections))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
