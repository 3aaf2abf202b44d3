"""Results tables are checked on read: a short or malformed table stops with one line naming the file."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mdeinterp.claims import evaluate_claims
from mdeinterp.errors import DataError
from mdeinterp.table_checks import TABLES, read_checked

COMMITTED = Path(__file__).resolve().parents[1] / "figures" / "results"


@pytest.fixture
def results(tmp_path):
    shutil.copytree(COMMITTED, tmp_path / "results")
    return tmp_path


def test_the_committed_tables_pass_their_checks():
    for name in TABLES:
        read_checked(COMMITTED / f"{name}.csv")


def test_selectivity_cut_to_33_of_64_rows_stops_the_claims(results):
    path = results / "results" / "selectivity.csv"
    table = pd.read_csv(path)
    assert len(table) == 64
    table.iloc[:33].to_csv(path, index=False)  # the adversarial case: claims computed anyway, C2 flipped
    with pytest.raises(DataError, match=r"selectivity.csv is cut short: \('.*', '.*'\) lacks layer decoder.iconv1 that .* \(4 of 5 rows\)"):
        evaluate_claims(results)


def test_whole_runs_missing_from_one_table_stop_the_claims(results):
    path = results / "results" / "selectivity.csv"
    table = pd.read_csv(path)
    table[table.setting != "outdoor"].to_csv(path, index=False)  # complete runs, but one setting gone
    with pytest.raises(DataError, match=r"results table selectivity.csv lacks the runs \('outdoor', 'outdoor_base_s0'\)"
                                        r".* that accuracy.csv has"):
        evaluate_claims(results)


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.drop(columns="setting"), r"lacks the column\(s\) setting"),
    (lambda t: t.iloc[:0], "has no rows"),
    (lambda t: pd.concat([t, t.iloc[:1]]), r"holds 2 rows sharing their setting/name/layer"),
])
def test_malformed_tables_are_one_line_errors(results, edit, problem):
    path = results / "results" / "selectivity.csv"
    edit(pd.read_csv(path)).to_csv(path, index=False)
    with pytest.raises(DataError, match=rf"{path}.* {problem}"):
        read_checked(path)


def test_an_empty_file_is_a_data_error(tmp_path):
    (tmp_path / "accuracy.csv").write_text("")
    with pytest.raises(DataError, match="accuracy.csv is empty or not a table"):
        read_checked(tmp_path / "accuracy.csv")
