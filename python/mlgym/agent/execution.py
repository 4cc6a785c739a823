"""Running a :class:`~mlgym.agent.planning.Plan`: one agent per thread, each with its
own run folder, log file and environment; then one result line per run."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgym import settings
from mlgym.agent.devices import device_kwargs
from mlgym.agent.loop import Agent, CostBudget
from mlgym.agent.models import get_model
from mlgym.agent.planning import Plan
from mlgym.agent.trajectory import write_args_yaml, write_results
from mlgym.runs import run_dir_name

log = logging.getLogger("mlgym.agent")


@dataclass
class RunOutcome:
    """How one agent's run ended."""

    index: int
    run_dir: Path
    exit_status: str | None
    skipped: bool = False
    interrupted: bool = False
    error: BaseException | None = None
    score: list[dict[str, Any]] | None = None


class ConsoleFormatter(logging.Formatter):
    """Console lines, cut at ``limit`` characters (the log file keeps them whole)."""

    def __init__(self, limit: int | None) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.limit = limit

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self.limit and len(text) > self.limit:
            cut = len(text) - self.limit
            text = text[: self.limit] + f"\n... [{cut} more characters in the run's log file]"
        return text


def console_handler(args: argparse.Namespace) -> logging.Handler:
    """The console handler of ``mlgym run`` (``--verbose``, ``--log_verbose_to_console``,
    ``MLGYM_LOG_STREAM_LEVEL``)."""
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(ConsoleFormatter(None if args.log_verbose_to_console else 3000))
    console.setLevel(settings.log_stream_level() if args.verbose else logging.WARNING)
    return console


def execute(args: argparse.Namespace, plan: Plan) -> int:
    """Runs every agent of the plan; prints one line per run; returns the exit code."""
    budget = CostBudget(args.total_cost_limit)
    stop_event = threading.Event()
    try:
        if args.num_agents == 1:
            outcomes = [run_one(args, plan, 0, budget, stop_event)]
        else:
            outcomes = _run_parallel(args, plan, budget, stop_event)
    except KeyboardInterrupt:
        stop_event.set()
        print("mlgym run: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.raise_exceptions:
            raise
        print(f"mlgym run: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return print_outcomes(outcomes, args.raise_exceptions)


def _run_parallel(
    args: argparse.Namespace, plan: Plan, budget: CostBudget, stop_event: threading.Event
) -> list[RunOutcome]:
    outcomes: list[RunOutcome] = []
    with ThreadPoolExecutor(max_workers=args.num_agents, thread_name_prefix="mlgym-agent") as pool:
        futures = [
            pool.submit(run_one, args, plan, i, budget, stop_event) for i in range(args.num_agents)
        ]
        try:
            for f in futures:
                # A short timeout keeps the main thread responsive to Ctrl-C.
                while True:
                    try:
                        outcomes.append(f.result(timeout=0.5))
                        break
                    except TimeoutError:
                        continue
        except KeyboardInterrupt:
            stop_event.set()
            raise
    return outcomes


def print_outcomes(outcomes: list[RunOutcome], raise_exceptions: bool) -> int:
    """One line per run; exit code 1 when a run failed under ``--raise_exceptions``."""
    failed = False
    for o in sorted(outcomes, key=lambda o: o.index):
        if o.skipped:
            print(f"{o.run_dir}: skipped (results.json exists)")
            continue
        best = f"  last score: {o.score[-1]}" if o.score else ""
        print(f"{o.run_dir}: {o.exit_status}{best}")
        failed = failed or o.error is not None and raise_exceptions
    return 1 if failed else 0


def _run_logger(run_dir: Path) -> tuple[logging.Logger, logging.Handler]:
    logger = logging.getLogger(f"mlgym.agent.run.{run_dir.name}")
    logger.setLevel(logging.DEBUG)
    stamp = time.strftime("%y%m%d%H%M%S")
    handler = logging.FileHandler(run_dir / f"run-{stamp}.log", encoding="utf-8")
    handler.setLevel(settings.log_file_level())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, handler


def run_one(
    args: argparse.Namespace,
    plan: Plan,
    index: int,
    budget: CostBudget,
    stop_event: threading.Event,
) -> RunOutcome:
    """Agent ``index``'s run: its folder, ``args.yaml``, log, environment and episode."""
    import mlgym

    run_dir = plan.out_root / run_dir_name(plan.name, index)
    if args.skip_existing and (run_dir / "results.json").exists():
        log.info("skipping %s: results.json exists", run_dir)
        return RunOutcome(index, run_dir, None, skipped=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    devices = plan.devices[index]
    if not write_args_yaml(run_dir / "args.yaml", {**plan.args_doc, "devices": devices}):
        log.warning(
            "%s/args.yaml differs from this run's arguments (new ones in args.new.yaml)", run_dir
        )
    logger, handler = _run_logger(run_dir)
    env = None
    try:
        logger.info("run %s (agent %d, devices %s)", run_dir, index, devices)
        agent = Agent(
            plan.agent_config,
            get_model(plan.model_args, agent_index=index),
            name=f"primary_{index}",
            per_instance_cost_limit=plan.model_args.per_instance_cost_limit,
            budget=budget,
            logger=logger,
        )
        try:
            env = mlgym.make(plan.task.ref, **plan.make_kwargs, **device_kwargs(devices))
        except Exception as exc:
            logger.error("could not create the environment: %s", exc)
            raise
        result = agent.run(
            env,
            seed=args.seed,
            traj_path=run_dir / f"{plan.task.config['id']}.traj",
            stop_event=stop_event,
            raise_exceptions=args.raise_exceptions,
        )
        if not result.interrupted:
            write_results(
                run_dir / "results.json",
                result.info["score"],
                plan.task.config.get("baseline_scores"),
            )
        logger.info("exit status: %s", result.exit_status)
        return RunOutcome(
            index,
            run_dir,
            result.exit_status,
            interrupted=result.interrupted,
            error=result.error,
            score=result.info["score"],
        )
    finally:
        if env is not None:
            try:
                env.close()
            except Exception as exc:  # noqa: BLE001
                logger.error("closing the environment failed: %s", exc)
        logger.removeHandler(handler)
        handler.close()
