"The command line as a user meets it: a messy shop export to recommendations, saved models and a report; bad input refused."
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from causalrec.cli import main
from causalrec.ranking_stages import TUNE_GRID

pytestmark = pytest.mark.filterwarnings("ignore:.*clipped at 1", "ignore:pkg_resources is deprecated")
DATA = Path(__file__).parent / "data"
MESSY = ["run", "--source", "table", "--path", str(DATA / "events.csv"), "--items", str(DATA / "items.csv"),
         "--rename", "dwell=dwell_seconds,text=title"]
TIERS = ["click", "dwell", "cart", "purchase"]


def cli(*args, env=None, **kw):
    "Run the `causalrec` command in a fresh interpreter (as the console script does)."
    return subprocess.run([sys.executable, "-c", "import sys; from causalrec.cli import main; sys.exit(main())", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, **kw)


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("messy") / "out"
    assert main(MESSY + ["--clean", "--tiers", " > ".join(TIERS), "--cache-dir", cache, "--out", str(out), "--quiet"]) == 0
    return out


def test_messy_csv_to_recommendations_models_and_report(messy_run):
    out = messy_run
    repairs = pd.read_csv(out / "repairs.csv")
    expected = pd.read_csv(DATA / "expected_repairs.csv")
    pd.testing.assert_frame_equal(repairs[list(expected.columns)], expected)  # each planted problem, by row
    recs = pd.read_csv(out / "recommendations.csv")
    assert recs["user"].str.fullmatch(r"u\d{3}").all() and recs["item"].str.fullmatch(r"sku-\d{3}").all()
    s = json.loads((out / "summary.json").read_text())
    order = {v: i for i, v in enumerate(TIERS)}
    against = [(a, b) for a, b, *_ in s["graph"]["edges"] if a in order and b in order and order[a] > order[b]]
    assert not against and s["graph"]["tiers"] == [[v] for v in TIERS]
    md = (out / "report.md").read_text()
    assert "| interactions | device | not a recognised column" in md
    assert list((out / "models").iterdir()) and (out / "models" / "serving.safetensors").is_file()


def test_recommend_reproduces_the_runs_lists_exactly(messy_run):
    recs = (messy_run / "recommendations.csv").read_text().splitlines()
    model = next(p for p in (messy_run / "models").iterdir() if p.name != "serving.safetensors")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["recommend", "--model", str(model), "--users", "u002,u001", "--k", "10"]) == 0
    served = buf.getvalue().splitlines()
    assert served[0] == recs[0] == "user,rank,item,score"
    assert served[1:] == [l for l in recs[1:] if l.startswith("u002,")] + [l for l in recs[1:] if l.startswith("u001,")]


def test_twotower_in_the_evaluation_and_serving_new_users_described_by_text(tmp_path, cache, capsys):
    out = tmp_path / "o"
    assert main(MESSY + ["--clean", "--stages", "evaluation", "recommend", "--twotower", "--serve", "TwoTower",
                         "--cache-dir", cache, "--out", str(out), "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert "TwoTower" in s["evaluation"]["metrics"] and s["recommend"]["model"] == "TwoTower"
    recs = (out / "recommendations.csv").read_text().splitlines()
    capsys.readouterr()
    assert main(["recommend", "--model", str(out / "models" / "TwoTower.safetensors"), "--users", "u003", "--k", "10"]) == 0
    served = pd.read_csv(io.StringIO(capsys.readouterr().out))
    run_list = pd.read_csv(io.StringIO("\n".join([recs[0]] + [l for l in recs if l.startswith("u003,")])))
    pd.testing.assert_frame_equal(served[["user", "rank", "item"]], run_list[["user", "rank", "item"]])  # the run's list
    assert (served["score"] - run_list["score"]).abs().max() < 1e-5  # TwoTower's float32 scores vary with the batch
    assert main(["recommend", "--model", str(out / "models" / "TwoTower.safetensors"), "--text",
                 "waterproof trail running gear", "--k", "5"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "text,rank,item" and len(rows) == 6 and all(",sku-" in r for r in rows[1:])


def test_tune_chooses_mf_settings_on_the_training_log_and_reports_them(tmp_path, cache):
    out = tmp_path / "o"
    assert main(["run", "--stages", "evaluation", "--tune", "--n-users", "150", "--n-items", "100", "--exposures-per-user",
                 "10", "--cache-dir", cache, "--out", str(out), "--quiet"]) == 0
    tuned = json.loads((out / "summary.json").read_text())["evaluation"]["tuned"]
    assert (tuned["metric"], tuned["validation"]) == ("ndcg@10", "per_user")
    assert {k: tuned["MF"][k] for k in ("loss", "reg")} in TUNE_GRID and tuned["MF"]["epochs"] >= 1
    assert "MF tuning: validation score of each setting" in (out / "report.md").read_text()


def test_without_clean_the_messy_csv_fails_fast_with_the_row_and_the_flag(tmp_path, capsys):
    start = time.perf_counter()
    assert main(MESSY + ["--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert time.perf_counter() - start < 5
    err = capsys.readouterr().err
    assert "events.csv" in err and "row" in err and "--clean" in err, err
    assert not (tmp_path / "o").exists() and not list(tmp_path.iterdir())


def test_help_names_the_columns_and_defaults(capsys):
    from causalrec import __version__
    for argv in (["run", "--help"], ["--version"]):
        with pytest.raises(SystemExit) as e: main(argv)
        assert e.value.code == 0
    out = capsys.readouterr().out
    for text in ("dwell       interactions", "text        items", "(default: 2000)", "--no-cache", "--tiers",
                 "--rename", "every other column is listed in the report as unused", f"causalrec {__version__}"):
        assert text in out, text


@pytest.mark.parametrize("argv,message", [
    (["--source", "coat", "--path", "/nonexistent/coat"], "/nonexistent/coat"),
    (["--source", "coat"], "needs a path (--path)"),
    (["--k", "0"], "k must be a positive integer"),
    (["--source", "coat", "--path", "coat/", "--items", "items.csv"], "are for source='table'"),
    (["--n-users", "100", "--n-items", "200", "--stages", "encoder", "--model", "/nonexistent/model"], "/nonexistent/model"),
    (["--source", "table", "--path", "e.csv", "--rename", "customer=user_id"], "not causalrec columns"),
    (["--rename", "user_id:customer"], "causalrec_column=your_column pairs"),
    (["--n-users", "100", "--n-items", "200", "--tiers", "clicks > cart"], "name ['clicks'], which are not behaviour"),
    (["--tiers", "click > > cart"], "has an empty group"),
])
def test_bad_command_lines_exit_2_with_the_fix(argv, message, capsys, tmp_path):
    assert main(["run"] + argv + ["--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("causalrec: error:") and message in err, err
    assert not list(tmp_path.iterdir())  # nothing written, not even a build folder


def test_unknown_stage_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--stages", "ranking"])
    assert e.value.code == 2 and "invalid choice: 'ranking'" in capsys.readouterr().err


def test_the_output_folder_is_checked_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "report.md").write_text("my own notes")
    for out, message in ((tmp_path / "file", "is a file, not a folder"), ("", "empty path"),
                         (tmp_path / "no" / "such", "does not exist"), ("/proc/causalrec-out", "cannot create a folder"),
                         (mine, "not written by causalrec")):
        start = time.perf_counter()
        assert main(["run", "--out", str(out), "--quiet"]) == 2
        assert message in capsys.readouterr().err and time.perf_counter() - start < 1
    assert (mine / "report.md").read_text() == "my own notes"
    assert main(["run", "--stages", "data", "--n-users", "100", "--n-items", "100", "--exposures-per-user", "10",
                 "--out", str(mine), "--overwrite",
                 "--quiet"]) == 0
    assert not (mine / "report.md").read_text().startswith("my own")


def test_a_rerun_replaces_the_whole_folder(tmp_path, cache):
    out = tmp_path / "o"
    small = ["--n-users", "100", "--n-items", "100", "--exposures-per-user", "10", "--cache-dir", cache, "--out", str(out),
             "--quiet"]
    assert main(["run", "--stages", "data", "evaluation", "recommend"] + small) == 0
    assert (out / "recommendations.csv").is_file() and (out / "figures" / "figure_1.png").is_file()
    assert main(["run", "--stages", "data"] + small) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["figures/figure_0.png", "manifest.json", "report.html", "report.md", "summary.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_outputs_respect_the_umask(tmp_path):
    out, old = tmp_path / "o", os.umask(0o027)
    try:
        assert main(["run", "--stages", "data", "--n-users", "60", "--n-items", "60", "--exposures-per-user", "5",
                     "--out", str(out), "--quiet"]) == 0
    finally: os.umask(old)
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in [out, *out.rglob("*")]}
    assert modes.pop(".") == 0o750 and modes.pop("figures") == 0o750 and set(modes.values()) == {0o640}, modes


KILLER = """
import json, os, sys
from causalrec.cli import main
from causalrec.report import read_manifest
import causalrec.pipeline as pipeline
args, out = json.loads(sys.argv[1]), sys.argv[2]
assert main(args + ["--seed", "1"]) == 0
memo, stages, load = {}, dict(pipeline.STAGE_FUNCTIONS), pipeline.load_data  # each killed run computes nothing new:
for name in stages:  # only its writes differ
    pipeline.STAGE_FUNCTIONS[name] = lambda d, u, c, name=name: memo.get(name) or memo.setdefault(name, stages[name](d, u, c))
pipeline.load_data = lambda c: memo.get("data set") or memo.setdefault("data set", load(c))
assert main([a if a != out else out + "-warm" for a in args] + ["--seed", "2"]) == 0  # the stages of the new run, once
__import__("shutil").rmtree(out + "-warm")
old, seen = read_manifest(out)["files"], []
for n in range(1, 30):
    pid = os.fork()
    if pid == 0:  # a fresh run, killed by the hook before its n-th write step
        os.environ["CAUSALREC_KILL_AT_WRITE"] = str(n)
        os._exit(main(args + ["--seed", "2"]))
    status = os.waitpid(pid, 0)[1]
    files = read_manifest(out)["files"]  # complete: every file listed, none extra, digests match
    folder = __import__("pathlib").Path(out)
    leftovers = [p.name for p in folder.rglob("*") if ".tmp" in p.name or "build" in p.name]
    seen.append({"n": n, "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9,
                 "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                 "run": "old" if files == old else "new", "leftovers": leftovers,
                 "beside": sorted(p.name for p in folder.parent.iterdir() if p != folder)})
    if not seen[-1]["killed"]: break
print(json.dumps(seen))
"""


def test_a_run_killed_at_any_write_leaves_the_old_or_the_new_run(tmp_path):
    "SIGKILL before each write step (CAUSALREC_KILL_AT_WRITE=n): the folder is one complete run, never a mix."
    out = tmp_path / "o"
    args = ["run", "--stages", "data", "--n-users", "60", "--n-items", "60", "--exposures-per-user", "5", "--no-cache",
            "--out", str(out), "--quiet"]
    r = subprocess.run([sys.executable, "-c", KILLER, json.dumps(args), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.splitlines()[-1])
    n = len(seen)  # kill points: each file, the manifest, the swap, the removal of the old run; then a clean finish
    assert n >= 8 and all(s["killed"] for s in seen[:-1]) and seen[-1]["exit"] == 0, seen
    assert [s["run"] for s in seen] == ["old"] * (n - 2) + ["new", "new"], seen
    assert not any(s["leftovers"] for s in seen), seen
    assert all(s["beside"] for s in seen[:-1])  # a killed run leaves its build folder beside the output ...
    assert seen[-1]["beside"] == []  # ... which the next run removes
