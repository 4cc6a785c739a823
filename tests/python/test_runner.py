"""The agent runner (`mlgym run`): parsing, history, models, limits, exits, outputs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlgym
import pytest
from conftest import QUICK_START, descendant_pids
from mlgym.agent import (
    Agent,
    AgentConfigError,
    APIError,
    ContextWindowExceededError,
    CostBudget,
    CostLimitExceededError,
    FormatError,
    LiteLLMModel,
    ModelOutput,
    ReplayModel,
    RetryError,
    TrajectoryWriter,
    exit_for_error,
    get_history_processor,
    load_agent_config,
)
from mlgym.agent import cli as agent_cli
from mlgym.agent.config import agent_config_from_dict
from mlgym.agent.models import HumanModel, HumanThoughtModel, SubmitBaselineModel, load_replay
from mlgym.agent.parsing import (
    MLGYM_FORMAT_ERROR,
    MORE_THAN_ONE_BLOCK,
    NO_ACTION,
    MLGymThoughtActionParser,
    ThoughtActionParser,
    fence,
)
from mlgym.cli import main as mlgym_main

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "root"
CORPUS = SHARED / "corpus" / "trajectories"
EXAMPLE = REPO / "examples" / "replay_battleOfSexes.traj"
GAME_TASKS = ("battleOfSexes", "prisonersDilemma", "blotto")


def corpus_or_skip() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{CORPUS} is missing in CI")
        pytest.skip(f"{CORPUS} not present (the corpus lives in ../shared)")
    return CORPUS


def game_tasks_or_skip(*tasks: str) -> None:
    missing = [t for t in tasks if t not in mlgym.list_tasks()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"tasks {missing} are not shipped")
        pytest.skip(f"tasks {missing} are not shipped yet")


def guess_env(**kw: Any) -> mlgym.MLGymEnv:
    return mlgym.make("guessNumber", config_root=FIXTURE_ROOT, **kw)


class Scripted:
    """A model answering fixed outputs (or raising fixed errors), counting its calls."""

    def __init__(self, outputs: list[Any], cost: float = 0.0, estimate: float | None = None):
        self.outputs = list(outputs)
        self.calls: list[list[dict[str, str]]] = []
        self.cost = cost
        if estimate is not None:
            self.estimate_cost = lambda messages: estimate

    def query(self, messages):
        self.calls.append(messages)
        item = self.outputs.pop(0) if len(self.outputs) > 1 else self.outputs[0]
        if isinstance(item, BaseException):
            raise item
        return ModelOutput(item, cost=self.cost, tokens_sent=10, tokens_received=5)


def default_config():
    return load_agent_config("default")


def run_agent(model, tmp_path: Path, max_steps: int = 10, **agent_kw):
    env = guess_env(max_steps=max_steps)
    agent = Agent(default_config(), model, **agent_kw)
    try:
        result = agent.run(env, seed=0, traj_path=tmp_path / "guessNumber.traj")
    finally:
        env.close()
    saved = json.loads((tmp_path / "guessNumber.traj").read_text())
    return result, saved


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


# --------------------------------------------------------------------------- models


def fake_litellm(
    responses: list[Any], *, max_input_tokens: int = 10_000, provider: str = "openai"
) -> types.SimpleNamespace:
    class APIErrorL(Exception):
        pass

    class RateLimitError(APIErrorL):
        pass

    class ContextWindowExceededErrorL(APIErrorL):
        pass

    calls: list[dict[str, Any]] = []

    def completion(**kwargs):
        calls.append(kwargs)
        item = responses.pop(0)
        if isinstance(item, BaseException):
            raise item
        message = types.SimpleNamespace(content=item)
        return types.SimpleNamespace(
            choices=[types.SimpleNamespace(message=message)],
            usage=types.SimpleNamespace(completion_tokens=7),
        )

    return types.SimpleNamespace(
        completion=completion,
        calls=calls,
        token_counter=lambda model=None, messages=None, text=None: (
            sum(len(m["content"]) for m in messages) if messages else len(text or "")
        ),
        completion_cost=lambda completion_response=None: 0.25,
        model_cost={
            "fake-model": {
                "max_input_tokens": max_input_tokens,
                "max_output_tokens": 99,
                "input_cost_per_token": 0.001,
                "litellm_provider": provider,
            }
        },
        APIError=APIErrorL,
        RateLimitError=RateLimitError,
        ContextWindowExceededError=ContextWindowExceededErrorL,
    )


def test_litellm_wrapper_with_a_fake_module():
    lit = fake_litellm([fence("ls")], provider="anthropic")
    kwargs = {"seed": 1}
    model = LiteLLMModel(
        "litellm:fake-model",
        temperature=0.5,
        top_p=0.9,
        host_url="http://x",
        stop=["END"],
        completion_kwargs=kwargs,
        module=lit,
    )
    messages = [{"role": "user", "content": "hello"}]
    assert model.estimate_cost(messages) == pytest.approx(0.005)
    out = model.query(messages)
    assert out.text == fence("ls") and out.cost == 0.25
    assert (out.tokens_sent, out.tokens_received) == (5, 7)
    call = lit.calls[0]
    assert call["model"] == "fake-model" and call["temperature"] == 0.5 and call["top_p"] == 0.9
    assert call["api_base"] == "http://x" and call["stop"] == ["END"] and call["seed"] == 1
    assert call["max_tokens"] == 99 and kwargs == {"seed": 1}  # not mutated
    assert LiteLLMModel("litellm:a:b", module=fake_litellm([])).model == "a:b"


def test_litellm_context_retries_and_errors():
    lit = fake_litellm([], max_input_tokens=3)
    with pytest.raises(ContextWindowExceededError):
        LiteLLMModel("litellm:fake-model", module=lit).query([{"role": "user", "content": "1234"}])
    assert lit.calls == []  # no call was made
    lit = fake_litellm([])
    lit_errors = lit
    lit.calls.clear()
    responses = [lit_errors.RateLimitError("slow"), lit_errors.RateLimitError("slow"), "ok"]
    lit2 = fake_litellm(responses)
    lit2.RateLimitError = lit_errors.RateLimitError
    waits: list[float] = []
    model = LiteLLMModel("litellm:fake-model", module=lit2, max_retries=3, retry_wait=(0, 0))
    model.sleep = waits.append
    assert model.query([{"role": "user", "content": "x"}]).text == "ok"
    assert len(waits) == 2
    lit3 = fake_litellm([lit_errors.RateLimitError("slow")] * 3)
    lit3.RateLimitError = lit_errors.RateLimitError
    model = LiteLLMModel("litellm:fake-model", module=lit3, max_retries=3, retry_wait=(0, 0))
    model.sleep = lambda s: None
    with pytest.raises(RetryError):
        model.query([{"role": "user", "content": "x"}])
    lit4 = fake_litellm([])
    lit4.calls.clear()
    lit4.completion = lambda **kw: (_ for _ in ()).throw(lit4.APIError("401"))
    with pytest.raises(APIError):
        LiteLLMModel("litellm:fake-model", module=lit4).query([{"role": "user", "content": "x"}])
    lit5 = fake_litellm([lit_errors.ContextWindowExceededError("too long")])
    lit5.ContextWindowExceededError = lit_errors.ContextWindowExceededError
    with pytest.raises(ContextWindowExceededError):
        LiteLLMModel("litellm:fake-model", module=lit5).query([{"role": "user", "content": "x"}])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_litellm_mock_response_through_the_cli(tmp_path, monkeypatch):
    # Set before the import: litellm otherwise fetches its model table from the network.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    pytest.importorskip("litellm")
    monkeypatch.chdir(tmp_path)
    reply = fence("echo 6 > answer.txt && submit")
    rc = mlgym_main(
        [
            "run",
            "--task_config_path",
            "guessNumber",
            "--config_root",
            str(FIXTURE_ROOT),
            "--model",
            "litellm:gpt-4o",
            "--completion_kwargs",
            json.dumps({"mock_response": reply}),
            "--noverbose",
        ]
    )
    assert rc == 0
    (traj,) = tmp_path.glob("trajectories/*/litellm-gpt-4o__guessNumber__*_run_0/guessNumber.traj")
    info = json.loads(traj.read_text())["info"]
    assert info["exit_status"] == "submitted"
    assert info["model_stats"]["api_calls"] == 1 and info["model_stats"]["total_cost"] > 0


def test_human_models_read_multiline_input():
    lines = iter(
        [
            "edit 1:1",
            "foo",
            "end_of_edit  ",
            "start_multiline_command",
            "a",
            "b",
            "end_multiline_command",
            "ls",
        ]
    )

    def read(prompt: str) -> str:
        for line in lines:
            return line
        raise EOFError

    out = io.StringIO()
    human = HumanModel(input_fn=read, output=out)
    msgs = [{"role": "user", "content": "what now?"}]
    assert human.query(msgs) == "edit 1:1\nfoo\nend_of_edit  "
    assert human.query(msgs) == "a\nb"
    assert human.query(msgs) == "ls"
    assert "what now?" in out.getvalue()
    with pytest.raises(RuntimeError, match="no more input"):
        human.query(msgs)
    lines2 = iter(["I think", "so END_THOUGHT", "ls"])
    thinker = HumanThoughtModel(input_fn=lambda prompt: next(lines2), output=io.StringIO())
    text = thinker.query(msgs)
    assert MLGymThoughtActionParser()(text) == ("I think\nso \n", "ls\n")


def test_human_model_runs_unparsed_and_eof_is_exit_error(tmp_path):
    lines = iter(["echo 3 > answer.txt"])

    def read(prompt):
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    result, saved = run_agent(HumanModel(input_fn=read, output=io.StringIO()), tmp_path)
    assert saved["trajectory"][0]["thought"] == ""
    assert saved["trajectory"][0]["action"] == "echo 3 > answer.txt"
    assert result.exit_status == "autosubmission (exit_error)"
    assert saved["info"]["model_stats"]["total_cost"] == 0


def test_replay_sources(tmp_path):
    corpus = corpus_or_skip()
    traj = next(iter(sorted(corpus.glob("*/battleOfSexes.traj"))))
    (episode,) = load_replay(traj)
    data = json.loads(traj.read_text())
    assert [i.content for i in episode] == [
        h["content"] for h in data["history"] if h["role"] == "assistant"
    ]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(json.dumps({"a": ["x", "y"]}) + "\n" + json.dumps({"b": ["z"]}) + "\n")
    model = ReplayModel(jsonl)
    model.reset()
    assert [model.query([]), model.query([])] == ["x", "y"]
    assert "submit" in model.query([])  # exhausted: submits
    model.reset()
    assert model.query([]) == "z"
    assert ReplayModel(jsonl, start=1).query([]) == "z"
    with pytest.raises(AgentConfigError):
        ReplayModel(tmp_path / "missing.jsonl")
    baseline = SubmitBaselineModel()
    baseline.reset({"baseline_paths": ["baseline.py"]})
    assert [MLGymThoughtActionParser()(baseline.query([]))[1] for _ in range(3)] == [
        "python baseline.py\n",
        "submit\n",
        "submit\n",
    ]


# --------------------------------------------------------------------------- CLI


def parse_run(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    agent_cli.add_parser(sub)
    return parser.parse_args(["run", *argv])


def test_quick_start_flags_parse_with_abbreviations():
    args = parse_run(QUICK_START)
    assert args.model_name == "litellm:claude-3-5-sonnet-20240620"
    assert args.temperature == 1.0 and args.top_p == 0.95 and args.gpus == [0]
    assert args.per_instance_cost_limit == 4.0 and args.max_steps == 50
    assert args.container_type == "docker" and args.gpus_per_agent == 0
    name = agent_cli.run_name(
        args.model_name,
        "battleOfSexes",
        "default",
        args.temperature,
        args.top_p,
        args.per_instance_cost_limit,
        args.suffix,
    )
    assert name + "_run_0" == (
        "litellm-claude-3-5-sonnet-20240620__battleOfSexes__default__t-1.00__p-0.95"
        "__c-4.00__install-0_run_0"
    )
    assert agent_cli.run_name("m", "t", "d", 0, 0.95, 4, "parallel_agents").endswith(
        "__install-0__parallel_agents"
    )
    args = parse_run(
        [
            "--noverbose",
            "--memory_enabled",
            "False",
            "--skip_existing",
            "--completion_kwargs",
            '{"max_tokens": 5}',
            "--stop",
            "A",
            "B",
            "--training_timeout",
            "5",
            "--baseline_scores",
            '[{"Score": 1}]',
        ]
    )
    assert args.verbose is False and args.memory_enabled is False and args.skip_existing
    assert args.completion_kwargs == {"max_tokens": 5} and args.stop == ["A", "B"]
    assert args.training_timeout == 5 and args.baseline_scores == [{"Score": 1}]
    with pytest.raises(SystemExit):
        parse_run(["--completion_kwargs", "[1, 2]"])


def test_gpu_assignment_follows_mlgym():
    assert agent_cli.assign_devices([0], 0, 2) == [["cpu_0"], ["cpu_1"]]
    assert agent_cli.assign_devices([0, 1, 2, 3], 2, 2) == [["0", "1"], ["2", "3"]]
    with pytest.raises(RuntimeError) as err:
        agent_cli.assign_devices([0], 1, 2)
    assert str(err.value) == "Not enough GPUs available. Required: 2, Available: 1"


def test_cli_errors_are_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["run", "--task_config_path", "guessNumber", "--config_root", str(FIXTURE_ROOT)]
    assert mlgym_main([*base, "--model", "replay"]) == 2
    assert "--replay_path" in capsys.readouterr().err
    assert mlgym_main([*base, "--model", "gpt"]) == 2
    assert "Invalid model name" in capsys.readouterr().err
    assert (
        mlgym_main(
            [
                *base,
                "--model",
                "submit_baseline",
                "--gpus_per_agent",
                "1",
                "--num_agents",
                "2",
                "--gpus",
                "0",
            ]
        )
        == 2
    )
    assert "Not enough GPUs available. Required: 2, Available: 1" in capsys.readouterr().err
    assert (
        mlgym_main(["run", "--task_config_path", "noSuchTask", "--model", "submit_baseline"]) == 2
    )
    assert "noSuchTask" in capsys.readouterr().err
    assert mlgym_main([*base, "--model", "submit_baseline", "--benchmark", "x"]) == 2
    assert "--benchmark" in capsys.readouterr().err
    rc = mlgym_main([*base, "--model", "submit_baseline", "--container_type", "docker"])
    if rc == 2:
        assert "not available" in capsys.readouterr().err
    assert not (tmp_path / "trajectories").exists() or rc == 0


def test_cli_outputs_overrides_dotenv_and_skip_existing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLGYM_CONFIG_ROOT", raising=False)
    # .env is read before settings: the task id only resolves through MLGYM_CONFIG_ROOT.
    (tmp_path / ".env").write_text(
        f"# settings\nexport MLGYM_CONFIG_ROOT='{FIXTURE_ROOT}'\nMLGYM_TEST_VALUE=1 # note\n"
    )
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"x": [fence("echo 7 > answer.txt"), fence("submit")]}) + "\n")
    argv = [
        "run",
        "--task_config_path",
        "guessNumber",
        "--model",
        "replay",
        "--replay_path",
        str(replay),
        "--training_timeout",
        "7",
        "--suffix",
        "mine",
        "--noverbose",
    ]
    assert mlgym_main(argv) == 0
    assert os.environ["MLGYM_TEST_VALUE"] == "1"
    (run_dir,) = tmp_path.glob("trajectories/*/*")
    assert run_dir.name == (
        "replay__guessNumber__default__t-0.00__p-0.95__c-3.00__install-0__mine_run_0"
    )
    files = sorted(p.name for p in run_dir.iterdir())
    assert files[:3] == ["args.yaml", "guessNumber.traj", "results.json"]
    assert files[3].startswith("run-") and files[3].endswith(".log")
    import yaml

    args = yaml.safe_load((run_dir / "args.yaml").read_text())
    assert args["environment"]["task"]["training_timeout"] == 7
    assert args["agent"]["model"]["model_name"] == "replay"
    results = json.loads((run_dir / "results.json").read_text())
    assert results == {"agent": [{"Score": 7.0, "SecretSeen": 1.0}], "baseline": {"Score": 2.0}}
    assert "STEP 1" in (run_dir / files[3]).read_text()
    mtime = (run_dir / "guessNumber.traj").stat().st_mtime
    time.sleep(0.05)
    assert mlgym_main([*argv, "--skip_existing"]) == 0
    assert (run_dir / "guessNumber.traj").stat().st_mtime == mtime
    monkeypatch.delenv("MLGYM_TEST_VALUE")


def test_parallel_agents_get_their_own_runs_and_logs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    replay = tmp_path / "r.jsonl"
    replay.write_text(
        json.dumps({"a": [fence("echo 3 > answer.txt && submit")]})
        + "\n"
        + json.dumps({"b": [fence("echo 4 > answer.txt && submit")]})
        + "\n"
    )
    before = descendant_pids()
    rc = mlgym_main(
        [
            "run",
            "--task_config_path",
            "guessNumber",
            "--config_root",
            str(FIXTURE_ROOT),
            "--model",
            "replay",
            "--replay_path",
            str(replay),
            "--num_agents",
            "2",
            "--noverbose",
        ]
    )
    assert rc == 0
    runs = sorted(tmp_path.glob("trajectories/*/*_run_*"))
    assert [r.name[-6:] for r in runs] == ["_run_0", "_run_1"]
    scores = [json.loads((r / "results.json").read_text())["agent"][-1]["Score"] for r in runs]
    assert scores == [3.0, 4.0]  # agent i replays line i
    for i, r in enumerate(runs):
        (log,) = r.glob("run-*.log")
        text = log.read_text()
        assert f"agent {i}" in text and f"agent {1 - i}" not in text
        history = json.loads((r / "guessNumber.traj").read_text())["history"]
        assert {h["agent"] for h in history} == {f"primary_{i}"}
    assert descendant_pids() <= before


def test_quick_start_with_replay_submits(tmp_path, monkeypatch):
    game_tasks_or_skip("battleOfSexes")
    monkeypatch.chdir(tmp_path)
    argv = list(QUICK_START)
    argv[argv.index("docker")] = "local"
    argv[argv.index("litellm:claude-3-5-sonnet-20240620")] = "replay"
    argv += ["--replay_path", str(EXAMPLE)]
    rc = mlgym_main(["run", *argv])
    assert rc == 0
    (traj,) = tmp_path.glob(
        "trajectories/*/replay__battleOfSexes__default__t-1.00__p-0.95__c-4.00__install-0_run_0"
        "/battleOfSexes.traj"
    )
    data = json.loads(traj.read_text())
    assert data["info"]["exit_status"] == "submitted"
    assert data["trajectory"][-1]["action"] == "submit\n"
    assert data["info"]["score"][-1]["Score"] > 1.3  # well above the 1.02 baseline


def test_example_trajectory_is_an_mlgym_traj():
    data = json.loads(EXAMPLE.read_text())
    assert list(data) == ["environment", "trajectory", "history", "info"]
    assert data["info"]["exit_status"] == "submitted"
    assert data["trajectory"][-1]["action"].strip() == "submit"


def corpus_game_trajectories() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for t in GAME_TASKS for p in CORPUS.glob(f"*/{t}.traj"))


def episode_leftovers(owner_pids: set[int]) -> list[str]:
    """What local episodes of the given (finished) `mlgym run` processes left behind.

    A process that escaped its owner is reparented away from this test, so it is looked
    for everywhere: any live process whose cwd or command line is inside one of their
    episode directories, and the episode directories and leak-registry entries
    themselves (named `<owner pid>-...`).
    """
    base = Path(tempfile.gettempdir()) / f"mlgym-{os.getuid()}"
    prefixes = tuple(f"{pid}-" for pid in owner_pids)
    left = [
        str(p)
        for sub in ("episodes", "live")
        for p in (base / sub).glob("*")
        if p.name.startswith(prefixes)
    ]
    markers = tuple(str(base / "episodes" / prefix) for prefix in prefixes)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(m in cwd or m in cmd for m in markers):
            left.append(f"process {entry}: {cmd.strip()} (cwd {cwd})")
    return left


def test_corpus_replays_end_with_an_exit_status(tmp_path):
    """Every game trajectory of the corpus, replayed in full through `mlgym run`.

    Runs the CLI as separate processes (a few at a time), with the corpus's own step
    limit (50). `--training_timeout 60` bounds each evaluation: one recording, replayed on
    our files, writes a strategy that never returns (its MLGym run hit a grader timeout
    too), which would otherwise wait for the grader's 600 s limit.
    """
    corpus_or_skip()
    game_tasks_or_skip(*GAME_TASKS)
    trajs = corpus_game_trajectories()
    assert len(trajs) == 36  # 3 games x 3 models x 4 runs
    before = descendant_pids()

    def replay(i: int, traj: Path) -> tuple[int, subprocess.CompletedProcess[str]]:
        argv = [
            sys.executable,
            "-m",
            "mlgym.cli",
            "run",
            "--task_config_path",
            f"tasks/{traj.stem}.yaml",
            "--model",
            "replay",
            "--replay_path",
            str(traj),
            "--max_steps",
            "50",
            "--training_timeout",
            "60",
            "--suffix",
            f"r{i}",
            "--noverbose",
        ]
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        out, err = proc.communicate(timeout=900)
        return proc.pid, subprocess.CompletedProcess(argv, proc.returncode, out, err)

    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(replay, range(len(trajs)), trajs))
    statuses: dict[str, str] = {}
    for i, (traj, (_, proc)) in enumerate(zip(trajs, done, strict=True)):
        assert proc.returncode == 0, (traj, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (traj, proc.stderr[-2000:])
        task = traj.stem
        (out,) = tmp_path.glob(f"trajectories/*/replay__{task}__*__r{i}_run_0/{task}.traj")
        data = json.loads(out.read_text())
        recorded = json.loads(traj.read_text())["trajectory"]
        status = data["info"]["exit_status"]
        assert status, traj
        # The whole recording is replayed (plus a closing `submit` if it has none).
        assert min(len(recorded), 50) <= len(data["trajectory"]) <= min(len(recorded) + 1, 50)
        statuses[traj.parent.name] = status
        results = json.loads((out.parent / "results.json").read_text())
        assert results["agent"] == data["info"]["score"] and "baseline" in results
    assert len(statuses) == 36
    assert set(statuses.values()) <= {
        "submitted",
        "autosubmission (max_steps)",
        "evaluation_format_error (max_steps)",
        "evaluation_format_error (submit)",
        "autosubmission (exit_context)",
        "autosubmission (exit_format)",
        "evaluation_format_error (exit_format)",
    }, statuses
    assert "submitted" in statuses.values()
    assert descendant_pids() <= before
    assert episode_leftovers({pid for pid, _ in done}) == []


# --------------------------------------------------------------------------- export


def test_export_atif(tmp_path, capsys):
    corpus = corpus_or_skip()
    traj = next(iter(sorted(corpus.glob("*/prisonersDilemma.traj"))))
    out = tmp_path / "doc.json"
    assert mlgym_main(["export", "--format", "atif", str(traj), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    data = json.loads(traj.read_text())
    assert doc["schema_version"].startswith("ATIF-v1.")
    assert doc["agent"]["name"] == "mlgym-rs"
    assert [s["step_id"] for s in doc["steps"]] == list(range(1, len(doc["steps"]) + 1))
    assert [s["source"] for s in doc["steps"][:2]] == ["system", "user"]
    agent_steps = doc["steps"][2:]
    assert len(agent_steps) == len(data["trajectory"])
    first = agent_steps[0]
    call = first["tool_calls"][0]
    assert call["function_name"] == "bash"
    assert call["arguments"]["command"] == data["trajectory"][0]["action"]
    assert first["observation"]["results"][0]["source_call_id"] == call["tool_call_id"]
    stats = data["info"]["model_stats"]
    assert doc["final_metrics"]["total_prompt_tokens"] == stats["tokens_sent"]
    assert doc["extra"]["exit_status"] == data["info"]["exit_status"]
    assert mlgym_main(["export", str(tmp_path / "nothing")]) == 2
    capsys.readouterr()


def test_agent_api_with_gymnasium_make(tmp_path):
    import gymnasium

    game_tasks_or_skip("battleOfSexes")
    env = gymnasium.make("mlgym/battleOfSexes", max_steps=4)
    agent = Agent(default_config(), ReplayModel(EXAMPLE))
    result = agent.run(env, seed=1, traj_path=tmp_path / "g.traj")
    env.close()
    assert result.exit_status == "autosubmission (max_steps)"
    assert result.reward > 0.3  # normalised: (1.44 - 1.02) / 1.02
