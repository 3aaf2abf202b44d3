"""benchmarks/bench_grid.py counts the steps train() takes, per run of the full grid."""

from benchmarks.bench_grid import planned_steps
from mdeinterp.config import build_config
from mdeinterp.grid import plan, schedule


def test_planned_steps_follow_epochs_batches_and_max_steps():
    assert planned_steps(build_config("tiny")) == 6000  # 12 epochs x 4,000 images / 8
    assert planned_steps(build_config("tiny_outdoor")) == 1200  # 4 x 2,400 / 8
    assert planned_steps(build_config("tiny", n_train=10, batch_size=4, epochs=2)) == 4  # the short last batch is dropped
    assert planned_steps(build_config("tiny", max_steps=7)) == 7


def test_full_grid_steps():
    steps = {spec.name: planned_steps(spec.config()) for spec in plan("full")}
    assert steps["base_s0"] == steps["interp_s2"] == 6000
    assert steps["sweep_a1_s0"] == 1000 and steps["completion_interp_s0"] == 2500 and steps["bts_base_s0"] == 2000
    assert sum(steps.values()) == 8 * 6000 + 7 * 1000 + 2 * 2000 + 2 * 1200 + 2 * 2500


def test_list_schedule_takes_jobs_in_order_on_the_first_free_worker():
    from benchmarks.bench_grid import list_schedule

    assert list_schedule([3, 3, 2, 2, 2], 2) == 7  # 3+2+2 on one worker, 3+2 on the other
    assert list_schedule([1, 1, 4], 2) == 5  # plan order: the long job starts last
    assert list_schedule([4, 1, 1], 2) == 4  # longest first: the short ones share the other worker
    assert list_schedule([5, 2], 16) == 5  # more workers than jobs: the longest job
    assert list_schedule([5, 2, 1], 1) == 8  # one worker: the sum
    assert list_schedule([], 4) == 0


def test_list_schedule_refuses_no_worker_and_negative_costs():
    import pytest

    from benchmarks.bench_grid import list_schedule

    with pytest.raises(ValueError, match="workers=0"):
        list_schedule([1.0], 0)
    with pytest.raises(ValueError, match="negative"):
        list_schedule([1.0, -2.0], 2)


def test_expected_wall_seconds_add_dissections_to_each_run_and_the_notebooks_after():
    import pytest

    from benchmarks.bench_grid import expected_wall_seconds

    assert expected_wall_seconds([100, 100], 2, dissection_share=0.1, notebook_seconds=600) == pytest.approx(710)
    assert expected_wall_seconds([100, 100], 1, dissection_share=0.1, notebook_seconds=600) == pytest.approx(820)
    assert expected_wall_seconds([1000] * 4, 2) == pytest.approx(2 * 1100 + 600)  # +10% and 10 min by default
    assert expected_wall_seconds([1, 1, 4], 2, dissection_share=0, notebook_seconds=0) == 5
    assert expected_wall_seconds([4, 1, 1], 2, dissection_share=0, notebook_seconds=0) == 4


def test_recorded_grid_on_2_and_8_cores():
    import pytest

    from benchmarks.bench_grid import RECORDED_RUN_SECONDS, cores_table, expected_wall_seconds, list_schedule

    names = [spec.name for spec in plan("full")]
    assert sorted(RECORDED_RUN_SECONDS) == sorted(names)
    costs = [RECORDED_RUN_SECONDS[name] for name in names]
    assert sum(costs) == 11120
    # 2 cores, list-scheduled in plan order, +10% for evaluation and dissection, + 10 min of notebooks
    assert expected_wall_seconds(costs, 2) == pytest.approx(1.1 * list_schedule(costs, 2) + 600)
    assert round(expected_wall_seconds(costs, 2) / 60) == 113  # measured: 101.8 min of notebook 01, 110.5 in all
    # 8 cores: with this machine's run times the schedule's order (41 min) is no better than plan order's (41 min)
    assert round(expected_wall_seconds(costs, 8) / 60) == 41
    scheduled = [RECORDED_RUN_SECONDS[spec.name] for spec in schedule(plan("full"))]
    assert round(expected_wall_seconds(scheduled, 8) / 60) == 41
    table = cores_table(RECORDED_RUN_SECONDS, plan("full"))
    assert "| 8 | 31 | 10 | 41 | 41 |" in table and "| 2 | 103 | 10 | 113 | 113 |" in table
