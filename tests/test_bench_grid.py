"""benchmarks/bench_grid.py counts the steps train() takes, per run of the full grid."""

from benchmarks.bench_grid import planned_steps
from mdeinterp.config import build_config
from mdeinterp.grid import plan


def test_planned_steps_follow_epochs_batches_and_max_steps():
    assert planned_steps(build_config("tiny")) == 3000  # 6 epochs x 4,000 images / 8
    assert planned_steps(build_config("tiny_outdoor")) == 1200  # 4 x 2,400 / 8
    assert planned_steps(build_config("tiny", n_train=10, batch_size=4, epochs=2)) == 4  # the short last batch is dropped
    assert planned_steps(build_config("tiny", max_steps=7)) == 7


def test_full_grid_steps():
    steps = {spec.name: planned_steps(spec.config()) for spec in plan("full")}
    assert steps["base_s0"] == steps["interp_s2"] == 3000
    assert steps["sweep_a1_s0"] == 1000 and steps["completion_interp_s0"] == 2500 and steps["bts_base_s0"] == 2000
    assert sum(steps.values()) == 8 * 3000 + 7 * 1000 + 2 * 2000 + 2 * 1200 + 2 * 2500
