//! The episode state machine against a fake sandbox and a scripted console.

use super::testing::{write_task, FakeSandboxes, Grader, Probe, TempDir};
use super::*;
use std::sync::Arc;

struct Fixture {
    env: Env,
    probe: Arc<Probe>,
    _dir: TempDir,
}

fn fixture_with(entrypoint: &str, tweak: impl FnOnce(&mut EnvOptions)) -> Fixture {
    let dir = TempDir::new("env");
    let yaml = write_task(&dir.0, entrypoint);
    let probe = Probe::new(dir.0.join("workspace"));
    let mut options = EnvOptions::new(yaml.to_string_lossy());
    tweak(&mut options);
    let env = Env::with_sandboxes(options, Box::new(FakeSandboxes(probe.clone())), &mut || {
        false
    })
    .expect("env");
    Fixture {
        env,
        probe,
        _dir: dir,
    }
}

fn fixture(tweak: impl FnOnce(&mut EnvOptions)) -> Fixture {
    fixture_with("PythonSubmissionTasks", tweak)
}

fn started(tweak: impl FnOnce(&mut EnvOptions)) -> Fixture {
    let mut f = fixture(tweak);
    f.env.reset(Some(7)).expect("reset");
    f
}

fn status(r: &StepResult) -> Option<String> {
    r.info.exit_status.as_ref().map(ToString::to_string)
}

#[test]
fn reset_starts_an_episode_and_reuses_the_sandbox() {
    let mut f = fixture(|_| {});
    let (obs, info) = f.env.reset(Some(3)).unwrap();
    assert_eq!(obs, "A task for unit tests.");
    assert_eq!((info.step, info.remaining_steps, info.seed), (0, 50, 3));
    assert_eq!(info.primary_metric, "Score");
    assert_eq!(info.backend, "local");
    f.env.reset(None).unwrap();
    assert_eq!(Probe::count(&f.probe.sandboxes_created), 1);
    assert_eq!(Probe::count(&f.probe.consoles_started), 2);
    assert_eq!(f.env.episode(), 2);
}

#[test]
fn step_before_reset_and_after_the_end_are_errors() {
    let mut f = fixture(|_| {});
    assert!(matches!(f.env.step("ls"), Err(EnvError::NotReset)));
    f.env.reset(Some(0)).unwrap();
    f.env.step("submit").unwrap();
    assert!(matches!(f.env.step("ls"), Err(EnvError::EpisodeOver)));
    f.env.reset(Some(0)).unwrap();
    assert_eq!(f.env.step("ls").unwrap().observation, "ran ls");
}

#[test]
fn submit_pays_the_normalised_score_in_final_mode() {
    let mut f = started(|_| {});
    f.probe.set_grader(Grader::Score(3.0));
    let r = f.env.step("submit").unwrap();
    assert!(r.terminated && !r.truncated);
    assert_eq!(r.reward, 0.5); // (3 - 2) / |2|
    assert_eq!(r.observation, "Exited (submit)");
    assert_eq!(status(&r).as_deref(), Some("submitted"));
    assert_eq!(r.info.metrics.as_ref().unwrap()["Score"], 3.0);
    assert_eq!(r.info.normalized_score, Some(0.5));
    assert_eq!(r.info.failure, None);
    assert!(r
        .info
        .submission
        .as_deref()
        .unwrap()
        .ends_with("/target.py"));
}

#[test]
fn raw_mode_pays_the_raw_metric() {
    let mut f = started(|o| o.reward_mode = RewardMode::Raw);
    f.probe.set_grader(Grader::Score(4.25));
    assert_eq!(f.env.step("submit").unwrap().reward, 4.25);
}

#[test]
fn improvement_mode_pays_each_rise_of_the_best_score() {
    let mut f = started(|o| o.reward_mode = RewardMode::Improvement);
    let mut total = 0.0;
    for (score, expected) in [(3.0, 0.5), (2.5, 0.0), (1.0, 0.0), (4.0, 0.5)] {
        f.probe.set_grader(Grader::Score(score));
        let r = f.env.step("validate").unwrap();
        assert_eq!(r.reward, expected, "score {score}");
        assert!(!r.terminated);
        total += r.reward;
    }
    f.probe.set_grader(Grader::Garbage);
    let r = f.env.step("submit").unwrap();
    assert_eq!(r.reward, 0.0, "improvement mode never punishes");
    assert_eq!(total, 1.0);
    assert_eq!(r.info.best_normalized_score, Some(1.0));
    assert_eq!(r.info.scores.len(), 4);
}

#[test]
fn validate_shows_both_scores_and_keeps_the_episode_going() {
    let mut f = started(|_| {});
    f.probe.set_grader(Grader::Score(2.5));
    let r = f.env.step("validate").unwrap();
    assert!(!r.terminated && !r.truncated);
    assert_eq!(r.reward, 0.0);
    assert!(
        r.observation.contains("Baseline Score: {'Score': 2.0}"),
        "{}",
        r.observation
    );
    assert!(r.observation.contains("Evaluation Score: {'Score': 2.5}"));
    assert_eq!(r.info.exit_status, None);
    // A blocked command that prints the marker is not a validate.
    let r = f.env.step("blocked validate").unwrap();
    assert_eq!(Probe::count(&f.probe.gradings), 1);
    assert_eq!(r.info.metrics, None);
}

#[test]
fn forged_and_missing_metrics_are_format_errors_of_the_agent() {
    let mut f = started(|_| {});
    f.probe.set_grader(Grader::Forged(1000.0));
    let r = f.env.step("validate").unwrap();
    assert!(
        r.observation.starts_with("Failed to decode metrics"),
        "{}",
        r.observation
    );
    assert_eq!(r.info.failure, None);
    let r = f.env.step("submit").unwrap();
    assert_eq!(
        status(&r).as_deref(),
        Some("evaluation_format_error (submit)")
    );
    assert_eq!(r.info.failure, Some(Failure::Agent));
    assert_eq!(r.reward, -1.0);
}

#[test]
fn grading_failures_are_classified() {
    let cases = [
        (Grader::Hangs, "evaluation_timeout (submit)", Failure::Agent),
        (Grader::Infra, "infra_error (submit)", Failure::Infra),
        (
            Grader::Garbage,
            "evaluation_format_error (submit)",
            Failure::Agent,
        ),
    ];
    for (grader, expected, failure) in cases {
        let mut f = started(|o| o.failure_reward = -3.0);
        f.probe.set_grader(grader);
        let r = f.env.step("submit").unwrap();
        assert_eq!(status(&r).as_deref(), Some(expected));
        assert_eq!(r.info.failure, Some(failure));
        assert_eq!(r.reward, -3.0);
        assert!(r.terminated);
    }
}

#[test]
fn infra_failure_during_validate_is_flagged_but_not_fatal() {
    let mut f = started(|_| {});
    f.probe.set_grader(Grader::Infra);
    let r = f.env.step("validate").unwrap();
    assert_eq!(r.info.failure, Some(Failure::Infra));
    assert!(r
        .observation
        .starts_with("Error: grading infrastructure failed"));
    assert!(!r.terminated);
    f.probe.set_grader(Grader::Score(2.0));
    assert_eq!(f.env.step("submit").unwrap().reward, 0.0);
}

#[test]
fn max_steps_truncates_with_an_autosubmission() {
    let mut f = started(|o| o.max_steps = 2);
    let r = f.env.step("ls").unwrap();
    assert!(!r.truncated);
    assert_eq!(r.info.remaining_steps, 1);
    f.probe.set_grader(Grader::Score(4.0));
    let r = f.env.step("echo hi").unwrap();
    assert!(r.truncated && !r.terminated);
    assert_eq!(r.observation, "ran echo hi\nExited (max_steps)");
    assert_eq!(status(&r).as_deref(), Some("autosubmission (max_steps)"));
    assert_eq!(r.reward, 1.0);
    assert_eq!(r.info.remaining_steps, 0);
}

#[test]
fn submit_on_the_last_step_is_a_submission_not_a_truncation() {
    let mut f = started(|o| o.max_steps = 1);
    let r = f.env.step("submit").unwrap();
    assert!(r.terminated && !r.truncated);
    assert_eq!(status(&r).as_deref(), Some("submitted"));
    assert_eq!(Probe::count(&f.probe.gradings), 1);
}

#[test]
fn special_exits_grade_the_workspace() {
    for exit in SpecialExit::ALL {
        let mut f = started(|_| {});
        let r = f.env.step(&format!("  {}\n", exit.as_str())).unwrap();
        assert!(r.terminated);
        assert_eq!(
            status(&r),
            Some(format!("autosubmission ({})", exit.as_str()))
        );
        assert_eq!(r.observation, format!("Exited ({})", exit.as_str()));
        assert_eq!(r.reward, 0.5);
        assert!(
            f.probe.actions.lock().unwrap().is_empty(),
            "never reaches the shell"
        );
    }
}

#[test]
fn skip_and_forfeit_end_without_grading() {
    for (action, expected, obs) in [
        ("skip", "skipped", "Skipped"),
        ("exit_forfeit", "exit_forfeit", "Exited (exit_forfeit)"),
    ] {
        let mut f = started(|o| o.failure_reward = -2.0);
        let r = f.env.step(action).unwrap();
        assert!(r.terminated);
        assert_eq!(r.observation, obs);
        assert_eq!(status(&r).as_deref(), Some(expected));
        assert_eq!(r.info.failure, Some(Failure::Agent));
        assert_eq!(r.reward, -2.0);
        assert_eq!(Probe::count(&f.probe.gradings), 0);
    }
    let mut f = started(|o| o.reward_mode = RewardMode::Improvement);
    assert_eq!(f.env.step("skip").unwrap().reward, 0.0);
}

#[test]
fn timeouts_and_shell_restarts_are_reported() {
    let mut f = started(|_| {});
    let r = f.env.step("hang").unwrap();
    assert_eq!(r.info.failure, Some(Failure::Timeout));
    assert_eq!(r.info.exit_code, None);
    let r = f.env.step("crash").unwrap();
    assert!(r.info.shell_restarted);
    assert_eq!(r.info.failure, None);
    let r = f.env.step("fail").unwrap();
    assert_eq!(r.info.exit_code, Some(1));
    assert!(!r.info.shell_restarted);
}

#[test]
fn csv_tasks_without_a_submission_file_fail_as_not_found() {
    let mut f = fixture_with("CSVSubmissionTasks", |_| {});
    f.env.reset(Some(0)).unwrap();
    let r = f.env.step("validate").unwrap();
    assert!(r.observation.starts_with("Submission artefact not found"));
    std::fs::write(f.probe.workspace.join("submission.csv"), "a\n1\n").unwrap();
    f.probe.set_grader(Grader::Score(2.0));
    let r = f.env.step("submit").unwrap();
    assert_eq!(status(&r).as_deref(), Some("submitted"));
    assert!(r.info.submission.unwrap().ends_with("/submission.csv"));
    let mut f = fixture_with("CSVSubmissionTasks", |_| {});
    f.env.reset(Some(0)).unwrap();
    let r = f.env.step("submit").unwrap();
    assert_eq!(status(&r).as_deref(), Some("submission_not_found (submit)"));
}

#[test]
fn graders_get_the_seed_and_the_resolved_environment() {
    let mut f = started(|o| {
        o.host_python = Some("/opt/py/bin/python3".into());
        o.process_env.insert("EXTRA".into(), "yes".into());
    });
    let r = f.env.step("validate").unwrap();
    let env: std::collections::BTreeMap<_, _> =
        f.probe.grader_env.lock().unwrap().iter().cloned().collect();
    assert_eq!(
        env.get("MLGYM_GRADING_SEED").map(String::as_str),
        Some("7"),
        "{}",
        r.observation
    );
    // The grader's environment is its own (grading::grader_env): nothing of the
    // agent's process environment but the GPUs, HOME is the private grading folder.
    assert!(!env.contains_key("EXTRA"), "the agent's variables stay out");
    assert!(env["PATH"].starts_with("/opt/py/bin:"));
    assert_eq!(env["HOME"], "/fake/grading", "the host's HOME stays out");
}

#[test]
fn close_is_idempotent_and_final() {
    let mut f = started(|_| {});
    f.env.close();
    f.env.close();
    assert!(f.env.is_closed());
    assert_eq!(Probe::count(&f.probe.sandboxes_stopped), 1);
    assert!(matches!(f.env.step("ls"), Err(EnvError::Closed)));
    assert!(matches!(f.env.reset(None), Err(EnvError::Closed)));
}

#[test]
fn bad_options_fail_before_anything_starts() {
    let dir = TempDir::new("bad");
    let yaml = write_task(&dir.0, "PythonSubmissionTasks");
    let probe = Probe::new(dir.0.join("ws"));
    let mut options = EnvOptions::new(yaml.to_string_lossy());
    options.max_steps = 0;
    let err = Env::with_sandboxes(options, Box::new(FakeSandboxes(probe.clone())), &mut || {
        false
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("max_steps"));
    let options = EnvOptions::new("no-such-task-anywhere");
    let err = Env::with_sandboxes(options, Box::new(FakeSandboxes(probe.clone())), &mut || {
        false
    })
    .err()
    .unwrap();
    assert!(matches!(err, EnvError::Task(TaskError::NotFound { .. })));
    assert_eq!(Probe::count(&probe.sandboxes_created), 0);
}
