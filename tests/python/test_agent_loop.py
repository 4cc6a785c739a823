"""The agent loop: parsing, history, configs, prompts, limits, exits and the .traj writer."""

from __future__ import annotations

import json
import threading

import mlgym
import pytest
from mlgym.agent import (
    Agent,
    AgentConfigError,
    APIError,
    ContextWindowExceededError,
    CostBudget,
    CostLimitExceededError,
    FormatError,
    RetryError,
    TrajectoryWriter,
    exit_for_error,
    get_history_processor,
    load_agent_config,
)
from mlgym.agent.config import agent_config_from_dict
from mlgym.agent.parsing import (
    MLGYM_FORMAT_ERROR,
    MORE_THAN_ONE_BLOCK,
    NO_ACTION,
    MLGymThoughtActionParser,
    ThoughtActionParser,
    fence,
)
from runner_support import (
    Scripted,
    corpus_or_skip,
    default_config,
    guess_env,
    run_agent,
)

# --------------------------------------------------------------------------- parsing


def test_parser_splits_thought_and_action():
    p = MLGymThoughtActionParser()
    thought, action = p("DISCUSSION\nList files.\n\n```\nls -la\n```")
    assert thought == "DISCUSSION\nList files.\n\n"
    assert action == "ls -la\n"
    thought, action = p("DISCUSSION\nx\n```bash\nedit 1:2\nfoo\nend_of_edit\n```\nafter")
    assert action == "edit 1:2\nfoo\nend_of_edit\n"
    assert thought == "DISCUSSION\nx\nafter"


def test_parser_format_errors_use_mlgym_messages():
    p = MLGymThoughtActionParser()
    with pytest.raises(FormatError) as err:
        p("DISCUSSION\n```\nls\n```\nand\n```\npwd\n```")
    assert (
        str(err.value)
        == MORE_THAN_ONE_BLOCK
        == ("Found more than one code block in the model response.")
    )
    with pytest.raises(FormatError) as err:
        p("I will just run ls")
    assert str(err.value) == NO_ACTION == "No action found in model response."
    with pytest.raises(FormatError):
        p("```\nls")  # unclosed fence
    # The plain ThoughtActionParser takes the last top-level block instead.
    assert ThoughtActionParser()("```\nls\n```\n```\npwd\n```")[1] == "pwd\n"


def test_format_error_message_is_mlgyms():
    lines = MLGYM_FORMAT_ERROR.split("\n")
    assert lines[0] == "Your output was not formatted correctly. Your commands were not executed."
    assert lines[3] == "" and lines[5] == "DISCUSSION" and lines[7] == ""
    assert lines[8] == lines[10] == "```"
    assert lines[9] == "command(s) that you're going to run"
    assert MLGYM_FORMAT_ERROR.endswith("```\n")


def test_parser_matches_every_corpus_response():
    corpus = corpus_or_skip()
    p = MLGymThoughtActionParser()
    checked = 0
    for traj in sorted(corpus.glob("*/*.traj")):
        data = json.loads(traj.read_text())
        for entry in data["history"]:
            if entry["role"] != "assistant" or entry["action"].startswith("exit_"):
                continue
            assert p(entry["content"]) == (entry["thought"], entry["action"]), traj
            checked += 1
    assert checked > 1000


# --------------------------------------------------------------------------- history


def test_last5_observations_keeps_first_and_last_five():
    history = [{"role": "system", "content": "sys"}]
    history.append({"role": "user", "content": "demo", "is_demo": True})
    for i in range(9):
        history.append({"role": "user", "content": f"obs {i}\nline2\nline3"})
        history.append({"role": "assistant", "content": f"act {i}"})
    out = get_history_processor("Last5Observations")(history)
    users = [e["content"] for e in out if e["role"] == "user" and not e.get("is_demo")]
    assert users[0] == "obs 0\nline2\nline3"
    assert users[1:4] == ["Old output omitted (3 lines)"] * 3
    assert users[4:] == [f"obs {i}\nline2\nline3" for i in range(4, 9)]
    assert [e["content"] for e in out if e["role"] == "assistant"] == [f"act {i}" for i in range(9)]
    assert out[0]["content"] == "sys" and out[1]["content"] == "demo"
    assert history[4]["content"] == "obs 1\nline2\nline3"  # input not modified
    n2 = get_history_processor("LastNObservations", n=2)(history)
    assert sum(e["content"].startswith("Old output") for e in n2) == 6
    with pytest.raises(AgentConfigError):
        get_history_processor("NoSuchProcessor")


# --------------------------------------------------------------------------- config


def test_default_config_renders_command_docs():
    config = default_config()
    assert config.output_parser == "MLGymThoughtActionParser"
    assert config.history_processor == "Last5Observations"
    docs = config.command_docs()
    names = [line[:-1] for line in docs.splitlines() if line and not line.startswith(" ")]
    assert names == [
        "open",
        "goto",
        "scroll_down",
        "scroll_up",
        "create",
        "search_dir",
        "search_file",
        "find_file",
        "edit",
        "insert",
        "submit",
        "validate",
    ]
    assert "  signature: edit <start_line>:<end_line>\n  <replacement_text>\n  end_of_edit" in docs
    assert "shows the next 1000 lines" in docs  # {WINDOW} formatted
    for placeholder in ("{command_docs}", "{WINDOW}", "{training_timeout}"):
        assert placeholder in config.system_template
    for placeholder in ("{current_step}", "{remaining_steps}", "{open_file}", "{working_dir}"):
        assert placeholder in config.next_step_template
        assert placeholder in config.task_template
    assert "{observation}" in config.next_step_template


def test_config_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("system_template: [unclosed\n")
    with pytest.raises(AgentConfigError, match="invalid YAML"):
        load_agent_config(bad)
    with pytest.raises(AgentConfigError, match="not found"):
        load_agent_config(tmp_path / "missing.yaml")
    with pytest.raises(AgentConfigError, match="not a valid template"):
        agent_config_from_dict({"system_template": "{oops"})
    with pytest.raises(AgentConfigError, match="unknown output_parser"):
        Agent(agent_config_from_dict({"output_parser": "Nope"}), Scripted(["x"]))


def test_unknown_placeholder_ends_the_run_with_exit_error(tmp_path):
    config = agent_config_from_dict(
        {
            "system_template": "hi",
            "task_template": "{no_such_field}",
            "output_parser": "MLGymThoughtActionParser",
        }
    )
    env = guess_env()
    result = Agent(config, Scripted([fence("ls")])).run(env, traj_path=tmp_path / "t.traj")
    env.close()
    assert result.trajectory[-1]["action"] == "exit_error"
    assert "no_such_field" in result.trajectory[-1]["thought"]
    assert result.exit_status == "autosubmission (exit_error)"
    config = agent_config_from_dict({"system_template": "{nope}"})
    env = guess_env()
    result = Agent(config, Scripted([fence("ls")])).run(env, traj_path=tmp_path / "s.traj")
    env.close()
    assert result.exit_status == "autosubmission (exit_error)"
    assert isinstance(result.error, AgentConfigError) and "{nope}" in str(result.error)
    assert json.loads((tmp_path / "s.traj").read_text())["info"]["exit_status"] == (
        "autosubmission (exit_error)"
    )


# --------------------------------------------------------------------------- loop


def test_prompts_use_placeholders_and_history_is_mlgyms(tmp_path):
    model = Scripted([fence("ls"), fence("true"), fence("submit")])
    result, saved = run_agent(model, tmp_path)
    assert result.exit_status == "submitted"
    first = model.calls[0]
    assert first[0]["role"] == "system" and "COMMANDS:" in first[0]["content"]
    assert "Write a number into answer.txt" in first[1]["content"]
    assert "(Current Step: 0, Remaining Steps: 10)" in first[1]["content"]
    second = model.calls[1][-1]["content"]
    assert second.startswith("answer.txt\nevaluate.py\n(Current Step: 1, Remaining Steps: 9)")
    third = model.calls[2][-1]["content"]
    assert third.startswith("The command finished and printed nothing.")
    assert "(Open file: n/a)" in third
    roles = [h["role"] for h in saved["history"]]
    assert roles == ["system"] + ["user", "assistant"] * 3
    assert all(h["agent"] == "primary_0" for h in saved["history"])
    assert saved["history"][2]["action"] == "ls\n"
    step = saved["trajectory"][0]
    assert list(step) == ["state", "response", "thought", "action", "execution_time", "observation"]
    assert json.loads(step["state"])["open_file"] == "n/a"
    assert list(saved) == ["environment", "trajectory", "history", "info"]
    assert saved["environment"] == "mlgym_main"
    assert list(saved["info"]) == [
        "model_stats",
        "exit_status",
        "submission",
        "score",
        "summarizer",
    ]
    assert saved["info"]["model_stats"]["api_calls"] == 3
    assert saved["info"]["model_stats"]["tokens_sent"] == 30


def test_format_error_requery_then_success(tmp_path):
    model = Scripted(["no block", "```\nls\n```\n```\npwd\n```", fence("submit")])
    result, saved = run_agent(model, tmp_path)
    assert result.exit_status == "submitted"
    assert len(model.calls) == 3
    retry = model.calls[1]
    assert retry[-2] == {"role": "assistant", "content": "no block"}
    assert retry[-1] == {"role": "user", "content": MLGYM_FORMAT_ERROR}
    # Re-query exchanges are not kept in the history.
    assert [h["role"] for h in saved["history"]] == ["system", "user", "assistant"]
    assert saved["trajectory"][0]["action"] == "submit\n"


def test_format_errors_exhaust_requeries_then_exit_format(tmp_path):
    model = Scripted(["still no command"])
    result, saved = run_agent(model, tmp_path)
    assert len(model.calls) == 4  # the output and 3 re-queries, every one parsed
    last = saved["trajectory"][-1]
    assert last["action"] == "exit_format"
    assert last["thought"] == "Exit due to format error"
    assert last["response"] == "still no command"
    assert last["observation"] == "Exited (exit_format)"
    assert result.exit_status == "autosubmission (exit_format)"
    assert saved["history"][-1]["action"] == "exit_format"


@pytest.mark.parametrize(
    ("error", "action", "thought"),
    [
        (ContextWindowExceededError("big"), "exit_context", "Exit due to context window"),
        (CostLimitExceededError("spent"), "exit_cost", "Exit due to cost limit"),
        (APIError("bad key"), "exit_api", "Exit due to unexpected error: bad key"),
        (RetryError("gave up"), "exit_api", "Exit due to retry error: gave up"),
        (RuntimeError("boom"), "exit_error", "Exit due to runtime error: boom"),
        (ValueError("odd"), "exit_error", "Exit due to unexpected error: ValueError: odd"),
    ],
)
def test_model_errors_map_to_exit_statuses(tmp_path, error, action, thought):
    assert exit_for_error(error)[:2] == (thought, action)
    model = Scripted([fence("echo 4 > answer.txt"), error])
    result, saved = run_agent(model, tmp_path)
    last = saved["trajectory"][-1]
    assert (last["action"], last["thought"]) == (action, thought)
    assert result.exit_status == f"autosubmission ({action})"
    assert saved["info"]["exit_status"] == result.exit_status
    assert saved["info"]["score"][-1]["Score"] == 4.0


def test_cost_limit_is_checked_before_the_call(tmp_path):
    # Each call costs 1.0 and is estimated at 1.0: after two calls ($2) a third would
    # exceed $2.5, so it is never made.
    model = Scripted([fence("true")], cost=1.0, estimate=1.0)
    result, saved = run_agent(model, tmp_path, per_instance_cost_limit=2.5)
    assert len(model.calls) == 2
    assert saved["trajectory"][-1]["action"] == "exit_cost"
    assert result.exit_status == "autosubmission (exit_cost)"
    stats = saved["info"]["model_stats"]
    assert stats["task_cost"] == stats["total_cost"] == 2.0 and stats["api_calls"] == 2


def test_cost_limit_reached_without_estimates(tmp_path):
    model = Scripted([fence("true")], cost=1.0)
    result, _ = run_agent(model, tmp_path, per_instance_cost_limit=2.5)
    assert len(model.calls) == 3  # $3 spent: the limit is reached, no 4th call
    assert result.exit_status == "autosubmission (exit_cost)"


def test_total_cost_limit_is_shared(tmp_path):
    budget = CostBudget(3.0)
    first = Scripted([fence("true"), fence("submit")], cost=1.0)
    run_agent(first, tmp_path / "a", budget=budget)
    assert budget.spent == 2.0
    second = Scripted([fence("true")], cost=1.0)
    result, _ = run_agent(second, tmp_path / "b", budget=budget)
    assert len(second.calls) == 1 and result.exit_status == "autosubmission (exit_cost)"


def test_context_window_guard_for_custom_models(tmp_path):
    model = Scripted([fence("true")])
    model.max_input_tokens = 50
    model.count_tokens = lambda messages: sum(len(m["content"]) for m in messages) // 4
    result, _ = run_agent(model, tmp_path)
    assert model.calls == []
    assert result.exit_status == "autosubmission (exit_context)"


class FailingEnv:
    """Wraps an env; its step raises on a chosen action."""

    def __init__(self, env, bad: str, reset_fails: bool = False):
        self.env, self.bad, self.reset_fails = env, bad, reset_fails
        self.task_config = env.task_config

    def reset(self, **kw):
        if self.reset_fails:
            raise mlgym.SandboxError("no sandbox today")
        return self.env.reset(**kw)

    def step(self, action):
        if action.strip() == self.bad:
            raise mlgym.ShellError("the shell fell over")
        return self.env.step(action)


def test_environment_failures_never_leave_an_empty_status(tmp_path):
    env = guess_env()
    agent = Agent(default_config(), Scripted([fence("crash")]))
    result = agent.run(FailingEnv(env, "crash"), traj_path=tmp_path / "a.traj")
    assert result.exit_status == "autosubmission (exit_error)"
    assert "ShellError: the shell fell over" in result.trajectory[-1]["observation"]
    saved = json.loads((tmp_path / "a.traj").read_text())
    assert saved["info"]["exit_status"] == result.exit_status
    # When the autosubmission fails too, the run ends as early_exit.
    agent = Agent(default_config(), Scripted([fence("exit_error")]))
    env2 = guess_env()
    result = agent.run(FailingEnv(env2, "exit_error"), traj_path=tmp_path / "b.traj")
    assert result.exit_status == "early_exit"
    result = agent.run(FailingEnv(env2, "", reset_fails=True), traj_path=tmp_path / "c.traj")
    assert result.exit_status == "early_exit"
    assert json.loads((tmp_path / "c.traj").read_text())["info"]["exit_status"] == "early_exit"
    env.close()
    env2.close()


def test_keyboard_interrupt_leaves_a_valid_traj(tmp_path):
    model = Scripted([fence("true"), fence("true"), KeyboardInterrupt()])
    env = guess_env()
    agent = Agent(default_config(), model)
    with pytest.raises(KeyboardInterrupt):
        agent.run(env, traj_path=tmp_path / "t.traj")
    env.close()
    saved = json.loads((tmp_path / "t.traj").read_text())
    assert len(saved["trajectory"]) == 2
    assert saved["info"]["exit_status"] == "early_exit"


def test_stop_event_ends_the_run(tmp_path):
    stop = threading.Event()
    model = Scripted([fence("true")])
    env = guess_env()
    agent = Agent(default_config(), model)
    result = agent.run(
        env, traj_path=tmp_path / "t.traj", stop_event=stop, on_step=lambda step: stop.set()
    )
    env.close()
    assert result.interrupted and result.exit_status == "early_exit"
    assert len(result.trajectory) == 1


def test_max_steps_ends_with_autosubmission(tmp_path):
    result, saved = run_agent(Scripted([fence("true")]), tmp_path, max_steps=3)
    assert len(saved["trajectory"]) == 3
    assert result.exit_status == "autosubmission (max_steps)"


# --------------------------------------------------------------------------- .traj writer


def test_traj_writer_is_valid_after_every_step_and_linear(tmp_path):
    path = tmp_path / "x.traj"
    w = TrajectoryWriter(path)
    w.open([{"role": "system", "content": "s" * 100}], {"exit_status": ""})
    assert json.loads(path.read_text())["trajectory"] == []
    for i in range(300):
        step = {
            "state": "{}",
            "response": "r" * 50,
            "thought": "t",
            "action": f"a{i}\n",
            "execution_time": 0.1,
            "observation": "o\u00e9" * (i % 40),
        }
        hist = [{"role": "user", "content": f"u{i}"}, {"role": "assistant", "content": "a"}]
        w.append(step, hist, {"exit_status": "", "score": [{"s": i}]})
        if i % 37 == 0 or i < 5:
            data = json.loads(path.read_text())
            assert len(data["trajectory"]) == i + 1 and len(data["history"]) == 2 * i + 3
            assert data["info"]["score"] == [{"s": i}]
    size = path.stat().st_size
    assert w.bytes_written < 5 * size  # each step writes O(its own size), amortised
    w.close({"exit_status": "submitted"})
    text = path.read_text()
    assert text == json.dumps(w.document(), indent=2)
    assert json.loads(text)["info"] == {"exit_status": "submitted"}


def test_traj_writer_file_is_valid_without_close(tmp_path):
    # A crash that skips close() still leaves valid JSON behind.
    path = tmp_path / "x.traj"
    w = TrajectoryWriter(path)
    w.open([], {})
    w.append({"action": "ls"}, [{"role": "user", "content": "x"}], {"exit_status": ""})
    data = json.loads(path.read_text())
    assert data["trajectory"] == [{"action": "ls"}] and data["info"] == {"exit_status": ""}
