"End-to-end runs of the pipeline and its command line, on the simulator and on the shared real data."
import json

import pytest

from causalrec.pipeline import RunConfig, STAGES, main, run
from conftest import shared_dataset


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = run(RunConfig(n_users=400, n_items=400, max_events=4000, out=str(out), verbose=False))
    return out, summary


def test_every_stage_reports_and_nothing_half_written(simulated_run):
    out, summary = simulated_run
    assert list(summary) == list(STAGES)
    assert {p.name for p in out.iterdir()} == {"figures", "report.md", "report.html", "summary.json"}
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]
    saved = json.loads((out / "summary.json").read_text())
    assert saved["config"]["n_users"] == 400 and saved["graph"]["shd"] == summary["graph"]["shd"]
    md = (out / "report.md").read_text()
    for heading in ("## Data", "## Encoder", "## Causal graph", "## Structural equation model", "## Evaluation"):
        assert heading in md
    assert all((out / "figures" / f"figure_{i}.png").stat().st_size > 1000 for i in range(4))


def test_stages_agree_with_the_simulators_truth(simulated_run):
    _, s = simulated_run
    assert s["graph"]["shd"] <= 3 and s["graph"]["recall"] >= 0.9
    effects = {e["cause"]: e for e in s["sem"]["effects"]}
    for cause in ("cart", "discount", "dwell"):
        assert abs(effects[cause]["error"]) < 0.05, effects[cause]
    m = s["evaluation"]["metrics"]
    assert m["oracle"]["ndcg"] > m["random"]["ndcg"] and m["popularity"]["gini"] > m["random"]["gini"]
    ope = {(e["ranker"], e["estimator"]): e for e in s["evaluation"]["off_policy"]}
    naive_err = abs(ope["popularity", "naive"]["estimate"] - ope["popularity", "naive"]["true"])
    assert abs(ope["popularity", "snips"]["estimate"] - ope["popularity", "snips"]["true"]) < naive_err


def test_coat_from_the_command_line(tmp_path, capsys):
    coat = shared_dataset("coat")
    assert main(["run", "--source", "coat", "--path", str(coat), "--stages", "graph", "evaluation",
                 "--out", str(tmp_path), "--quiet"]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert "skipped" in s["graph"] and s["evaluation"]["label"] == "rating"
    assert (s["evaluation"]["protocol"], s["evaluation"]["k"]) == ("test_items", 5)
    m = s["evaluation"]["metrics"]  # the literature's protocol on Coat: each user's random test items, at k = 5
    assert m["DR-MF"]["auc"] > m["MF"]["auc"] > m["popularity"]["auc"] > m["random"]["auc"]
    assert s["data"]["logs"]["mnar"]["interactions"] == 6960
    assert "Skipped: the data has 1 varying numeric behaviour variable(s) (rating)" in (tmp_path / "report.md").read_text()


def test_csv_tables_from_the_command_line(tmp_path):
    "A user's own CSV files (here a simulated world's tables) go through every stage but the truth comparisons."
    from causalrec.simulator import simulate
    world = simulate(n_users=200, n_items=300, exposures_per_user=15, seed=3)
    for name in ("interactions", "items", "users"):
        getattr(world, name).to_csv(tmp_path / f"{name}.csv", index=False)
    out = tmp_path / "report"
    assert main(["run", "--source", "table", "--path", str(tmp_path / "interactions.csv"), "--items",
                 str(tmp_path / "items.csv"), "--users", str(tmp_path / "users.csv"), "--out", str(out), "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["data"]["interactions"] == len(world.interactions) and "shd" not in s["graph"]
    assert s["encoder"]["items"] == 300 and "oracle" not in s["evaluation"]["metrics"]
    assert {"activity", "click", "purchase"} <= set(s["graph"]["variables"]) and s["sem"]["converged"]


@pytest.mark.parametrize("argv,message", [
    (["run", "--source", "coat", "--path", "/nonexistent/coat"], "/nonexistent/coat"),
    (["run", "--source", "coat"], "needs a path (--path)"),
    (["run", "--stages", "sem"], "add 'graph' to stages"),
    (["run", "--k", "0"], "k must be at least 1"),
    (["run", "--source", "coat", "--path", "coat/", "--items", "items.csv"], "are for source='table'"),
    (["run", "--n-users", "100", "--n-items", "200", "--stages", "encoder", "--model", "/nonexistent/model"], "/nonexistent/model"),
])
def test_bad_command_lines_exit_2_with_the_fix(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("causalrec: error:") and message in err
    assert not any(tmp_path.iterdir())


def test_unknown_stage_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--stages", "ranking"])
    assert e.value.code == 2 and "invalid choice: 'ranking'" in capsys.readouterr().err
