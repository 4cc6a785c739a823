"""Scoring (mlgym.scoring): the published MLGym-Bench tables, ranks, AUP, analytics, CLI.

The corpus (676 results.json, 61 .traj files, the published CSV tables) is read from
../shared/corpus at test time.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest

np = pytest.importorskip("numpy", reason="scoring needs numpy (pip install 'mlgym-rs[scoring]')")

from mlgym.scoring import (  # noqa: E402
    MLGYM_MODELS,
    MLGYM_TASKS,
    ScoringError,
    analyze_trajectories,
    categorize_action,
    categorize_exit_status,
    parse_run_name,
    performance_ratios,
    profile_horizon,
    read_score_csv,
    score_runs,
)
from mlgym.scoring import cli as score_cli  # noqa: E402
from mlgym.scoring.registry import parse_metric_override  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"


def corpus(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI (the scoring tests read ../shared/corpus)")
        pytest.skip(f"{path} not present (the MLGym corpus lives in ../shared/corpus)")
    return path


@pytest.fixture(scope="module")
def paper_report():
    return score_runs(corpus("results"), models=["mlgym-bench"], analytics=False)


def _read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize("kind", ["best", "last"])
def test_reproduces_published_tables(paper_report, kind):
    published = _read_rows(corpus("tables", f"{kind}_scores_aggregate_results.csv"))
    ours = getattr(paper_report, kind).rows()
    assert ours[0] == published[0] == ["Task", "baseline", *MLGYM_MODELS]
    assert [r[0] for r in ours] == [r[0] for r in published]
    for our_row, pub_row in zip(ours[1:], published[1:], strict=True):
        for col, ours_cell, pub_cell in zip(
            published[0][1:], our_row[1:], pub_row[1:], strict=True
        ):
            where = f"{kind} {pub_row[0]} / {col}"
            if pub_cell == "":
                assert ours_cell == "", f"{where}: expected NaN, got {ours_cell}"
            else:
                assert ours_cell != "", f"{where}: expected {pub_cell}, got NaN"
                assert float(ours_cell) == pytest.approx(float(pub_cell), abs=5e-4), where
                assert ours_cell == pub_cell, where  # same 3-decimal formatting


def test_written_tables_are_byte_identical(tmp_path):
    score_runs(corpus("results"), tmp_path, models=["mlgym-bench"], plots=False)
    for kind in ("best", "last"):
        ours = (tmp_path / f"{kind}_scores.csv").read_text()
        assert ours == corpus("tables", f"{kind}_scores_aggregate_results.csv").read_text()
        parsed = read_score_csv(tmp_path / f"{kind}_scores.csv")
        assert math.isnan(parsed["House Price"]["gpt-o3-mini"])


def test_baseline_comes_from_first_run_that_has_the_metric(paper_report):
    # Several Mountain Car runs record only an old {'Reward': ...} baseline.
    assert paper_report.best.value("rlMountainCarContinuous", "baseline") == pytest.approx(
        33.793758392333984
    )


# --------------------------------------------------------------------------- ranks


@pytest.mark.parametrize("kind", ["best", "last"])
def test_rank_rows(paper_report, kind):
    table = getattr(paper_report, kind)
    ranks = getattr(paper_report, f"{kind}_ranks")
    rows = ranks.rows()
    solvers = ["baseline", *MLGYM_MODELS]
    assert rows[0] == ["Rank", *[str(i) for i in range(1, 14)]]
    assert [r[0] for r in rows[1:]] == [
        *[t.display_name for t in MLGYM_TASKS.values()],
        "Plackett-Luce",
        "BORDA",
    ]
    positions: dict[str, list[int]] = {s: [] for s in solvers}
    for task, row in zip(MLGYM_TASKS.values(), rows[1:14], strict=True):
        assert sorted(row[1:]) == sorted(solvers)
        values = [table.value(task.task_id, s) for s in row[1:]]
        scored = [v for v in values if not math.isnan(v)]
        # scored solvers first, in order; unscored after
        assert all(math.isnan(v) for v in values[len(scored) :])
        step = (lambda a, b: a >= b) if task.direction == "maximize" else (lambda a, b: a <= b)
        assert all(step(a, b) for a, b in zip(scored, scored[1:], strict=False)), task.task_id
        for i, s in enumerate(row[1:]):
            positions[s].append(i)
    mean_rank = {s: sum(p) / len(p) + 1 for s, p in positions.items()}
    borda = {s: sum(13 - i for i in p) for s, p in positions.items()}
    pl_row, borda_row = rows[14][1:], rows[15][1:]
    assert [mean_rank[s] for s in pl_row] == sorted(mean_rank.values())
    assert [borda[s] for s in borda_row] == sorted(borda.values(), reverse=True)
    assert ranks.borda == borda


def test_rank_facts(paper_report):
    order = paper_report.best_ranks.order
    assert order["3SATTime"][0] == "llama4-17b-16"  # minimize: 11.894 is best
    assert order["3SATTime"][-1] == "baseline"  # 16.158 is worst
    assert order["regressionKaggleHousePrice"][0] == "gpt-o1"
    # models without a score come last
    assert set(order["regressionKaggleHousePrice"][-3:]) == {
        "gpt-o3-mini",
        "deepseek-r1",
        "claude-37-sonnet",
    }


# --------------------------------------------------------------------------- AUP


def _independent_aup(results_dir: Path) -> tuple[float, dict[str, tuple[float, float]], int]:
    """A separate, direct implementation of the reference definitions."""
    scores: dict[str, dict[str, dict[str, float]]] = {"best": {}, "last": {}}
    baselines: dict[str, float] = {}
    for task_id, t in MLGYM_TASKS.items():
        pm, maximize = t.metric, t.direction == "maximize"
        for kind in scores:
            scores[kind][task_id] = {}
        for model in MLGYM_MODELS:
            bests, lasts = [], []
            for d in sorted(results_dir.glob(f"*{model}__{task_id}__*")):
                r = json.loads((d / "results.json").read_text())
                if task_id not in baselines and pm in r.get("baseline", {}):
                    baselines[task_id] = r["baseline"][pm]
                vals = [e[pm] for e in r.get("agent", []) if pm in e]
                if not vals:
                    continue
                bests.append(max(vals) if maximize else min(vals))
                lasts.append(r["agent"][-1][pm])
            for kind, got in (("best", bests), ("last", lasts)):
                if got:
                    scores[kind][task_id][model] = max(got) if maximize else min(got)
    solvers = ["baseline", *MLGYM_MODELS]
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    taus = []
    for kind in scores:
        ratios[kind] = {}
        for task_id, t in MLGYM_TASKS.items():
            s = dict(scores[kind][task_id], baseline=baselines[task_id])
            b = baselines[task_id]
            if t.direction == "maximize":
                feas = {m: v for m, v in s.items() if v >= 0 and v >= b}
                best, worst = max(feas.values()), min(feas.values())
                r = {m: best / v for m, v in feas.items()}
                wr = best / worst
            else:
                feas = {m: v for m, v in s.items() if v >= 0 and v <= b}
                best, worst = min(feas.values()), max(feas.values())
                r = {m: v / best for m, v in feas.items()}
                wr = worst / best
            ratios[kind][task_id] = {m: r.get(m, wr * 1.05) for m in solvers}
            taus.append(math.ceil(wr * 1.05))
    horizon = math.ceil(10 * math.log10(max(taus))) / 10
    grid = np.linspace(0, horizon, 500)
    out: dict[str, list[float]] = {m: [] for m in solvers}
    for kind in ("best", "last"):
        for m in solvers:
            logs = [math.log10(ratios[kind][t][m]) for t in MLGYM_TASKS]
            area = 0.0
            for i in range(499):
                rho = sum(lg <= grid[i] for lg in logs) / len(logs)
                area += (grid[i + 1] - grid[i]) * rho
            out[m].append(round(area, 3))
    return horizon, {m: (v[0], v[1]) for m, v in out.items()}, max(taus)


def test_aup_matches_independent_computation(paper_report):
    horizon, expected, max_tau = _independent_aup(corpus("results"))
    assert horizon == paper_report.horizon == 1.5
    assert max_tau == paper_report.max_tau == 27
    assert set(paper_report.aup) == set(expected)
    for solver, (best, last) in expected.items():
        assert paper_report.aup[solver] == (float(best), float(last)), solver


def test_aup_facts(paper_report):
    blotto = paper_report.best_ratios["blotto"]
    assert blotto.tau == 27  # the largest tau, giving T = 1.5
    assert max(r.tau for r in paper_report.best_ratios.values()) == 27
    assert "baseline" not in blotto.feasible  # -0.248 is negative, so infeasible
    assert blotto.ratios["baseline"] == pytest.approx(blotto.worst_ratio * 1.05)
    assert paper_report.horizon == 1.5
    assert len(paper_report.grid) == 500 and paper_report.grid[-1] == 1.5
    # Every AUP lies in [0, T]; rho is a share of the 13 tasks.
    for b, la in paper_report.aup.values():
        assert 0.0 <= b <= 1.5 and 0.0 <= la <= 1.5
    for prof in paper_report.best_profiles.values():
        assert set(np.round(prof * 13, 9)) <= set(range(14))
    # Missing scores are infeasible: House Price has no gpt-o3-mini score.
    hp = paper_report.best_ratios["regressionKaggleHousePrice"]
    assert "gpt-o3-mini" not in hp.feasible
    assert hp.ratios["gpt-o3-mini"] == pytest.approx(hp.worst_ratio * 1.05)
    # Regression guard on a few values of the AUP table.
    assert paper_report.aup["baseline"] == (1.22, 1.243)
    assert paper_report.aup["gpt-o1"] == (1.423, 1.444)
    assert paper_report.aup["gemini-25-pro"] == (1.419, 1.445)


def test_performance_ratio_rules():
    # maximize: a score below the baseline is infeasible; the best gets ratio 1
    tr = performance_ratios(
        {"baseline": 1.0, "a": 2.0, "b": 0.5, "c": float("nan")}, 1.0, "maximize"
    )
    assert tr.ratios["a"] == 1.0 and tr.ratios["baseline"] == 2.0
    assert tr.worst_ratio == 2.0 and tr.tau == math.ceil(2.0 * 1.05)
    assert tr.ratios["b"] == tr.ratios["c"] == pytest.approx(2.1)
    # minimize
    tr = performance_ratios({"baseline": 4.0, "a": 2.0, "b": 5.0}, 4.0, "minimize")
    assert tr.ratios == {"baseline": 2.0, "a": 1.0, "b": pytest.approx(2.1)}
    # negative scores are infeasible even when better than the baseline
    tr = performance_ratios({"baseline": -1.0, "a": -0.5, "b": 0.5}, -1.0, "maximize")
    assert tr.feasible == ["b"] and tr.ratios["a"] == pytest.approx(1.05)
    # guards: a zero we would divide by, and no feasible solver at all
    tr = performance_ratios({"baseline": 0.0, "a": 3.0}, 0.0, "maximize")
    assert tr.feasible == ["a"] and math.isfinite(tr.ratios["baseline"])
    tr = performance_ratios({"baseline": -1.0, "a": -2.0}, -1.0, "maximize")
    assert tr.tau is None and all(math.isinf(r) for r in tr.ratios.values())
    assert profile_horizon([27, 14, None]) == 1.5
    assert profile_horizon([10]) == 1.0


# --------------------------------------------------------------------------- analytics


def test_exit_status_and_action_categories():
    a = analyze_trajectories(corpus("trajectories"))
    assert len(a.runs) == 61
    statuses = a.exit_statuses()
    assert statuses["submitted"] == 41
    # empty exit statuses become unknown_error (<last action>)
    assert statuses["unknown_error (ls -R data/)"] == 1
    assert statuses['unknown_error (open "data/train.csv" 0)'] == 1
    assert "" not in statuses
    cats = a.category_counts()
    assert cats["Success"] == 41 and cats["Max Steps"] == 9
    assert cats["Runtime"] == 1 and cats["Permission"] == 1
    # a run counts once in each of its categories
    assert categorize_exit_status("evaluation_format_error (exit_format)") == (
        "Evaluation",
        "Format",
    )
    assert categorize_exit_status("something new") == ("something new",)
    # failed: no agent scores; incomplete: scores but neither Success nor Max Steps
    for r in a.runs:
        agent = json.loads((r.path.parent / "results.json").read_text())["agent"]
        assert r.failed == (not agent)
        if r.incomplete:
            assert agent and not {"Success", "Max Steps"} & set(r.categories)
    # actions: prefix match, first category wins, everything else is Bash
    total = a.action_counts()
    first_words = Counter(
        act.strip().split(maxsplit=1)[0] for r in a.runs for act in r.actions if act.strip()
    )
    assert total["Validate"] == first_words["validate"]
    assert total["Submit"] == first_words["submit"]
    assert sum(total.values()) == sum(len(r.actions) for r in a.runs)
    assert sum(a.action_counts(step=1).values()) == 61
    assert categorize_action("  python3 train.py\n") == "Python"
    assert categorize_action("insert 3\nx\nend_of_insert") == "Edit"
    assert categorize_action("scroll_down") == "View"
    assert categorize_action("ls -la") == "Bash"


# --------------------------------------------------------------------------- CLI


def _cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mlgym")
    sub = parser.add_subparsers(dest="command", required=True)
    score_cli.add_parser(sub)
    return parser.parse_args(["score", *argv])


def test_cli_writes_every_file(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    args = _cli_args(str(corpus("trajectories")), "--out", str(out))
    assert args.func is score_cli.run
    assert score_cli.run(args) == 0
    stdout = capsys.readouterr().out
    assert "Best AUP" in stdout and "claude-35-sonnet-new" in stdout
    for name in (
        "best_scores.csv",
        "last_scores.csv",
        "best_ranks.csv",
        "last_ranks.csv",
        "aup_scores.csv",
        "exit_statuses.csv",
        "exit_status_categories.csv",
        "failed_incomplete_runs.csv",
        "action_categories.csv",
        "performance_profiles.png",
        "performance_profiles.pdf",
        "aup_vs_cost.png",
        "aup_vs_cost.pdf",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    aup = _read_rows(out / "aup_scores.csv")
    assert aup[0] == ["Model", "Best AUP", "Last AUP"]
    assert aup[1][0] == "baseline"
    assert {r[0] for r in aup[1:]} == {
        "baseline",
        "gpt4o2",
        "llama3-405b-tools",
        "claude-35-sonnet-new",
    }


def test_cli_no_plots_and_model_selection(tmp_path, capsys):
    out = tmp_path / "o"
    args = _cli_args(
        str(corpus("results")), "--out", str(out), "--no-plots", "--models", "gpt-o1,gpt4o2"
    )
    assert score_cli.run(args) == 0
    assert not list(out.glob("*.png")) and not list(out.glob("*.pdf"))
    assert _read_rows(out / "best_scores.csv")[0] == ["Task", "baseline", "gpt-o1", "gpt4o2"]
    assert "gpt-o1" in capsys.readouterr().out


def test_cli_traj_dir_adds_cost_plot_and_summaries(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    results, trajs = corpus("results"), corpus("trajectories")
    plain, with_trajs = tmp_path / "plain", tmp_path / "trajs"
    assert score_cli.run(_cli_args(str(results), "--out", str(plain), "--format", "png")) == 0
    assert "No .traj files for these runs" in capsys.readouterr().out
    assert (plain / "performance_profiles.png").is_file()
    assert not (plain / "aup_vs_cost.png").exists() and not (plain / "exit_statuses.csv").exists()
    args = _cli_args(
        str(results), "--traj-dir", str(trajs), "--out", str(with_trajs), "--format", "png"
    )
    assert score_cli.run(args) == 0
    assert "No .traj files" not in capsys.readouterr().out
    for name in ("aup_vs_cost.png", "exit_statuses.csv", "action_categories.csv"):
        assert (with_trajs / name).stat().st_size > 0, name
    # The trajectories only feed the summaries and the cost axis, never the scores.
    for name in ("aup_scores.csv", "best_scores.csv", "last_ranks.csv"):
        assert (plain / name).read_text() == (with_trajs / name).read_text(), name
    categories = _read_rows(with_trajs / "exit_status_categories.csv")
    assert categories[-1][0] == "Total" and categories[-1][-1] == "61"


# --------------------------------------------------------------------------- our runs


def _write_run(root: Path, name: str, agent: list, baseline: dict | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    data: dict = {"agent": agent}
    if baseline is not None:
        data["baseline"] = baseline
    (d / "results.json").write_text(json.dumps(data, indent=2))
    return d


def test_parse_run_names():
    n = parse_run_name(
        "metagen-gpt4o2__blotto__default__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_3"
    )
    assert (n.model, n.task, n.agent_config, n.suffix, n.run) == (
        "gpt4o2",
        "blotto",
        "default",
        "parallel_agents",
        3,
    )
    n = parse_run_name(
        "litellm:gpt-4o__battleOfSexes__default__t-0.00__p-0.95__c-3.00__install-0_run_1"
    )
    assert (n.model, n.task, n.suffix, n.run, n.temperature, n.cost_limit) == (
        "litellm:gpt-4o",
        "battleOfSexes",
        None,
        1,
        "0.00",
        "3.00",
    )
    n = parse_run_name("m__t__default__t-0.50__p-1.00__c-0.00__install-0__ablation_x_run_12")
    assert (n.suffix, n.run) == ("ablation_x", 12)
    n = parse_run_name("mymodel__myTask__whatever")  # lenient fallback
    assert (n.model, n.task, n.run) == ("mymodel", "myTask", 0)
    assert parse_run_name("results") is None


def test_our_run_naming_and_yaml_metrics(tmp_path):
    runs = tmp_path / "trajectories" / "alice"
    cfg = tmp_path / "root" / "configs" / "tasks"
    cfg.mkdir(parents=True)
    (cfg / "tinyLoss.yaml").write_text(
        "id: tinyLoss\nname: Tiny loss\ndescription: d\nmetrics:\n"
        "  - name: accuracy\n    direction: maximize\n"
        "  - name: loss\n    direction: minimize\n    primary: true\n"
    )
    stem = "__default__t-0.00__p-0.95__c-4.00__install-0"
    _write_run(runs, f"modelA__tinyLoss{stem}_run_0", [{"loss": 2.0}, {"loss": 1.5}], {"loss": 3.0})
    _write_run(runs, f"modelA__tinyLoss{stem}__exp1_run_1", [{"loss": 1.0}, {"loss": 1.2}])
    _write_run(runs, f"modelB__tinyLoss{stem}_run_0", [{"loss": 2.5}], {"loss": 3.0})
    _write_run(
        runs, f"modelB__battleOfSexes{stem}_run_0", [{"Score": 1.2}, {"Score": 1.1}], {"Score": 1.0}
    )
    _write_run(runs, f"modelA__battleOfSexes{stem}_run_0", [], {"Score": 1.0})
    report = score_runs(tmp_path / "trajectories", config_root=tmp_path / "root", analytics=False)
    assert report.models == ["modelA", "modelB"]
    assert [t.task_id for t in report.tasks] == ["battleOfSexes", "tinyLoss"]
    tiny = report.best.task("tinyLoss")
    assert (tiny.metric, tiny.direction, tiny.display_name) == ("loss", "minimize", "Tiny loss")
    assert report.best.value("tinyLoss", "modelA") == 1.0  # min over both runs
    assert report.last.value("tinyLoss", "modelA") == 1.2  # min of last attempts 1.5, 1.2
    assert report.best.value("tinyLoss", "baseline") == 3.0
    assert report.best_ranks.order["tinyLoss"] == ["modelA", "modelB", "baseline"]
    assert math.isnan(report.best.value("battleOfSexes", "modelA"))  # empty agent list
    assert report.best.value("battleOfSexes", "modelB") == 1.2
    assert report.last.value("battleOfSexes", "modelB") == 1.1
    # minimize ratios: 1.0 is best; baseline 3.0 -> ratio 3
    assert report.best_ratios["tinyLoss"].ratios["baseline"] == 3.0
    # without the YAML the first recorded metric is used (maximized), with a warning
    report = score_runs(
        tmp_path / "trajectories", config_root=tmp_path / "nothing", analytics=False
    )
    assert report.best.task("tinyLoss").direction == "maximize"
    assert any("tinyLoss" in w and "--metric" in w for w in report.warnings)
    # explicit override
    report = score_runs(
        tmp_path / "trajectories",
        config_root=tmp_path / "nothing",
        metrics=["tinyLoss=loss:minimize"],
        analytics=False,
    )
    assert report.best.value("tinyLoss", "modelA") == 1.0


def test_match_glob_selects_runs(tmp_path):
    stem = "__default__t-0.00__p-0.95__c-4.00__install-0"
    _write_run(tmp_path, f"m__blotto{stem}__expA_run_0", [{"Score": 0.1}], {"Score": -0.2})
    _write_run(tmp_path, f"m__blotto{stem}__expB_run_0", [{"Score": 0.3}], {"Score": -0.2})
    report = score_runs(tmp_path, match="*__expA_run_*", analytics=False)
    assert report.best.value("blotto", "m") == 0.1


# --------------------------------------------------------------------------- bad input


def test_missing_directory_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope"
    with pytest.raises(ScoringError, match="does not exist"):
        score_runs(missing)
    assert score_cli.run(_cli_args(str(missing), "--out", str(tmp_path / "o"))) == 1
    err = capsys.readouterr().err
    assert "error" in err and str(missing) in err


def test_no_runs_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoringError, match="no runs found"):
        score_runs(tmp_path / "empty")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "malformed results.json: Expecting property name"),
        ("[1, 2]", "expected a JSON object"),
        ('{"agent": {"Score": 1}}', "'agent' must be a list"),
        ('{"agent": [], "baseline": 3}', "'baseline' must be a metric object"),
    ],
)
def test_malformed_results_is_a_clear_error(tmp_path, capsys, content, message):
    stem = "__default__t-0.00__p-0.95__c-4.00__install-0"
    _write_run(tmp_path, f"m__blotto{stem}_run_0", [{"Score": 0.1}], {"Score": -0.2})
    bad = tmp_path / f"m__blotto{stem}_run_1"
    bad.mkdir()
    (bad / "results.json").write_text(content)
    with pytest.raises(ScoringError, match="malformed results.json") as info:
        score_runs(tmp_path, analytics=False)
    assert str(bad / "results.json") in str(info.value)
    assert message in str(info.value)
    assert score_cli.run(_cli_args(str(tmp_path), "--out", str(tmp_path / "o"), "--no-plots")) == 1
    assert "malformed results.json" in capsys.readouterr().err
    # --skip-invalid scores the rest and warns
    args = _cli_args(str(tmp_path), "--out", str(tmp_path / "o"), "--no-plots", "--skip-invalid")
    assert score_cli.run(args) == 0
    assert "skipped" in capsys.readouterr().err


def test_malformed_trajectory_is_a_clear_error(tmp_path):
    stem = "__default__t-0.00__p-0.95__c-4.00__install-0"
    d = _write_run(tmp_path, f"m__blotto{stem}_run_0", [{"Score": 0.1}], {"Score": -0.2})
    (d / "blotto.traj").write_text("{")
    with pytest.raises(ScoringError, match="malformed trajectory"):
        score_runs(tmp_path)
    report = score_runs(tmp_path, strict=False)
    assert report.analytics is None and any("blotto.traj" in w for w in report.warnings)


def test_metric_precedence_is_the_cores(tmp_path):
    from mlgym.scoring.registry import resolve_task_metric, task_metric

    cfg = tmp_path / "root" / "configs" / "tasks"
    cfg.mkdir(parents=True)
    # A task YAML that reuses an MLGym-Bench id with its own metric: the YAML wins, as
    # it does for the env's reward; the display name stays MLGym's.
    (cfg / "3SATTime.yaml").write_text(
        "id: 3SATTime\nname: Mine\ndescription: d\nmetrics:\n"
        "  - name: solved\n    direction: maximize\n"
    )
    root = tmp_path / "root"
    mine = task_metric("3SATTime", root)
    assert (mine.metric, mine.direction, mine.source) == ("solved", "maximize", "yaml")
    assert mine.display_name == "3-SAT"
    table = task_metric("3SATTime", tmp_path / "nothing")
    assert (table.metric, table.direction, table.source) == ("Time", "minimize", "mlgym")
    assert table == MLGYM_TASKS["3SATTime"]
    assert task_metric("noSuchTask", root) is None
    override = parse_metric_override("3SATTime=Time:minimize")
    chosen = resolve_task_metric("3SATTime", {"3SATTime": override}, ["x"], root)
    assert (chosen.metric, chosen.direction, chosen.source) == ("Time", "minimize", "override")
    assert chosen.display_name == "3-SAT"
    fallback = resolve_task_metric("noSuchTask", None, ["acc", "loss"], root)
    assert (fallback.metric, fallback.direction, fallback.source) == ("acc", "maximize", "fallback")
    assert resolve_task_metric("noSuchTask", None, [], root) is None
    assert list(MLGYM_TASKS)[:2] == ["regressionKaggleHousePrice", "3SATTime"]
    assert len(MLGYM_TASKS) == 13
