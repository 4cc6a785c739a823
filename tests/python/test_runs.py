"""Run directories (`mlgym.runs`): one module writes and parses their names, and reads
their `.traj` files, for the runner, scoring, the viewer and export."""

from __future__ import annotations

import json

import pytest
from mlgym.scoring import parse_run_name


def test_run_names_round_trip_through_one_module():
    from mlgym import runs
    from mlgym.viewer import parse_run_dir

    name = runs.run_name("litellm:gpt-4o", "blotto", "default", 0.5, 0.95, 3, "exp__2")
    dir_name = runs.run_dir_name(name, 4)
    assert dir_name == (
        "litellm-gpt-4o__blotto__default__t-0.50__p-0.95__c-3.00__install-0__exp__2_run_4"
    )
    parsed = runs.parse_run_name(dir_name)
    assert parsed == runs.RunName(
        "litellm-gpt-4o", "blotto", "default", "0.50", "0.95", "3.00", "0", "exp__2", 4
    )
    assert parsed.complete
    # Scoring and the viewer read the same fields from it.
    assert parse_run_name(dir_name) == parsed
    view = parse_run_dir(dir_name)
    assert (view["model"], view["task"], view["config"], view["suffix"], view["run"]) == (
        "litellm-gpt-4o",
        "blotto",
        "default",
        "exp__2",
        4,
    )
    assert (view["temperature"], view["top_p"], view["cost_limit"]) == (0.5, 0.95, 3.0)
    # No _run_<i>: scoring counts it as run 0, the viewer as no run.
    assert runs.parse_run_name(name).run is None
    assert parse_run_name(name).run == 0 and parse_run_dir(name)["run"] is None
    lenient = runs.parse_run_name("metagen-m__t__cfg__a__b_run_2")
    assert (lenient.model, lenient.agent_config, lenient.suffix, lenient.run) == (
        "m",
        "cfg",
        "a__b",
        2,
    )
    assert not lenient.complete
    assert runs.parse_run_name("results") is None
    assert runs.split_run_index("x_run_7") == ("x", 7)


def test_trajectory_reader_is_shared(tmp_path):
    from mlgym import runs
    from mlgym.errors import TrajectoryError

    good = tmp_path / "a.traj"
    good.write_text(json.dumps({"trajectory": [], "history": [], "info": {"exit_status": "x"}}))
    assert runs.load_traj(good)["info"] == runs.read_traj_info(good) == {"exit_status": "x"}
    bad = tmp_path / "b.traj"
    bad.write_text("[1, 2]")
    with pytest.raises(TrajectoryError, match="expected a JSON object"):
        runs.load_traj(bad)
    with pytest.raises(TrajectoryError, match="cannot read"):
        runs.load_traj(tmp_path / "missing.traj")
    assert runs.read_traj_info(bad) is None
