"""The model back-ends: litellm (with a fake module), human input and replays."""

from __future__ import annotations

import io
import json
import types
from typing import Any

import pytest
from mlgym.agent import (
    AgentConfigError,
    APIError,
    ContextWindowExceededError,
    LiteLLMModel,
    ReplayModel,
    RetryError,
)
from mlgym.agent.models import HumanModel, HumanThoughtModel, SubmitBaselineModel, load_replay
from mlgym.agent.parsing import (
    MLGymThoughtActionParser,
    fence,
)
from mlgym.cli import main as mlgym_main
from runner_support import (
    FIXTURE_ROOT,
    corpus_or_skip,
    run_agent,
)

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
