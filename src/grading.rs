//! Grading: the task's evaluation in a fresh process, from pristine grader files, with
//! secret files present only while it runs, and metrics taken only from a line that
//! carries a per-grading nonce (docs/grading.md).

use crate::sandbox::{ExecRequest, Sandbox, SandboxError};
use crate::sys::random::{random_hex_from, OS_RANDOM_SOURCE};
use crate::task::LoadedTask;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Metrics reported by a grader.
pub type Metrics = BTreeMap<String, f64>;

/// Why a grading produced no metrics. The messages are MLGym's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum GradingError {
    /// No submission artefact.
    #[error("Submission artefact not found. You have to produce a valid submission artefact as described in the task description to validate your results.")]
    SubmissionNotFound,
    /// The grader's output had no metrics.
    #[error("Failed to decode metrics from evaluation script. Output:\n---\n{output}\n---\nPlease make sure the evaluation script prints the metrics in json format.")]
    EvaluationFormat {
        /// What the grader printed.
        output: String,
    },
    /// The grader ran past its time limit.
    #[error("Evaluation timed out after {seconds} seconds and was stopped.")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
    /// The task has no evaluation script.
    #[error("This task has no evaluation script (evaluation_paths is empty).")]
    NoEvaluation,
    /// The sandbox failed (infrastructure).
    #[error("grading infrastructure failed: {0}")]
    Sandbox(#[from] SandboxError),
    /// No nonce could be drawn from the OS, so metrics could not be told from forgeries;
    /// grading refuses to run rather than use a guessable nonce (infrastructure).
    #[error("grading infrastructure failed: no OS randomness for the metrics nonce: {0}")]
    Randomness(#[source] std::io::Error),
}

impl GradingError {
    /// MLGym's exit-status prefix for a failed final evaluation.
    pub fn exit_status_prefix(&self) -> &'static str {
        match self {
            Self::SubmissionNotFound => "submission_not_found",
            Self::EvaluationFormat { .. } | Self::NoEvaluation => "evaluation_format_error",
            Self::Timeout { .. } => "evaluation_timeout",
            Self::Sandbox(_) | Self::Randomness(_) => "infra_error",
        }
    }

    /// True when the failure is the platform's, not the agent's.
    pub fn is_infra(&self) -> bool {
        matches!(self, Self::Sandbox(_) | Self::Randomness(_))
    }
}

/// A successful grading.
#[derive(Debug, Clone)]
pub struct Graded {
    /// The metrics.
    pub metrics: Metrics,
    /// The submission artefact as MLGym reports it.
    pub submission: String,
    /// Grader run time.
    pub elapsed: Duration,
}

/// How a grading is run.
#[derive(Debug, Clone)]
pub struct GradingOptions {
    /// Seed handed to the grader.
    pub seed: u64,
    /// Time limit.
    pub timeout: Duration,
    /// Interpreter that runs graders.
    pub python: String,
    /// Extra environment for the grader (`CUDA_VISIBLE_DEVICES` and the like). Never the
    /// agent's `HOME`, `PATH` or `PYTHON*`: [`grader_env`] builds the rest.
    pub env: BTreeMap<String, String>,
    /// The env's secret that keys the opponents' randomness (hex). The agent never sees
    /// it, so it cannot rebuild an opponent's draws from anything its code observes.
    pub key: String,
}

/// Flags that start the grader's interpreter isolated from anything the agent could
/// have planted: `-E` ignores every `PYTHON*` variable, `-s` the user site (a `.pth`
/// file there would run inside the grader). `-I` would also drop the script's own
/// folder from `sys.path`, which MLGym-style graders import their helpers from; that
/// folder is the private grading folder, and the working directory is `/`.
pub const ISOLATED_PYTHON_FLAGS: [&str; 2] = ["-E", "-s"];

/// Search path of a grader: the interpreter's own folder first, then the system's.
fn grader_path(python: &str) -> String {
    let system = "/usr/local/bin:/usr/bin:/bin";
    match Path::new(python)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        Some(dir) => format!("{}:{system}", dir.to_string_lossy()),
        None => system.to_string(),
    }
}

/// The grader's whole environment: nothing of the agent's (its `HOME`, `PATH`,
/// `PYTHON*`, shell variables) gets in.
pub fn grader_env(
    opts: &GradingOptions,
    grading_dir: &str,
    workspace: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".into(), grader_path(&opts.python));
    env.insert("HOME".into(), grading_dir.to_string());
    env.insert("TMPDIR".into(), grading_dir.to_string());
    env.insert("LANG".into(), "C.UTF-8".into());
    env.insert("LC_ALL".into(), "C.UTF-8".into());
    for (k, v) in &opts.env {
        if !k.starts_with("PYTHON") && !matches!(k.as_str(), "PATH" | "HOME" | "TMPDIR") {
            env.insert(k.clone(), v.clone());
        }
    }
    env.insert("MLGYM_WORKSPACE".into(), workspace.to_string());
    env.insert("MLGYM_GRADING_SEED".into(), opts.seed.to_string());
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    env
}

/// Bytes of randomness in a grading nonce.
const NONCE_BYTES: usize = 16;

/// A fresh grading nonce read from `source` (the OS's random source outside tests).
/// Fails closed: a nonce the agent could guess would let it forge metrics.
fn nonce_from(source: &Path) -> Result<String, GradingError> {
    random_hex_from(source, NONCE_BYTES).map_err(GradingError::Randomness)
}

/// Finds the host source of a workspace-relative evaluation path among the starter code.
fn pristine_source(task: &LoadedTask, rel: &str) -> Option<std::path::PathBuf> {
    let name = Path::new(rel).file_name()?;
    for entry in &task.config.starter_code {
        let src = task.root.join(entry);
        if src.is_file()
            && src.file_name() == Some(name)
            && Path::new(rel).components().count() == 1
        {
            return Some(src);
        }
        if src.is_dir() {
            // `starter_code: [dir]` lands as `<ws>/<dir basename>/...`.
            let base = src.file_name()?;
            if let Ok(inner) = Path::new(rel).strip_prefix(base) {
                let candidate = src.join(inner);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    None
}

/// Parses metrics: our nonce line first; MLGym's conventions as a fallback for graders
/// written for MLGym (whole stdout as JSON, or the first line starting with `{`).
///
/// Tasks that declare `metrics` (our schema extension) are graded strictly: only the
/// nonce line counts.
pub fn parse_metrics(stdout: &str, nonce: &str, allow_fallback: bool) -> Option<Metrics> {
    let tag = format!("MLGYM-METRICS {nonce} ");
    if let Some(line) = stdout.lines().rev().find(|l| l.starts_with(&tag)) {
        return json_metrics(&line[tag.len()..]);
    }
    if !allow_fallback || stdout.lines().any(|l| l.starts_with("MLGYM-METRICS ")) {
        // A metrics line with the wrong nonce is a forgery, not a fallback case.
        return None;
    }
    json_metrics(stdout.trim()).or_else(|| {
        stdout
            .lines()
            .find(|l| l.trim().starts_with('{'))
            .and_then(json_metrics)
    })
}

fn json_metrics(text: &str) -> Option<Metrics> {
    let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let obj = value.as_object()?;
    let mut out = Metrics::new();
    for (k, v) in obj {
        out.insert(k.clone(), v.as_f64()?);
    }
    Some(out)
}

/// Grades the current workspace.
pub fn grade(
    sandbox: &mut dyn Sandbox,
    task: &LoadedTask,
    opts: &GradingOptions,
) -> Result<Graded, GradingError> {
    grade_with_random_source(sandbox, task, opts, Path::new(OS_RANDOM_SOURCE))
}

/// [`grade`] with the nonce's random source injected (tests make it fail).
fn grade_with_random_source(
    sandbox: &mut dyn Sandbox,
    task: &LoadedTask,
    opts: &GradingOptions,
    random_source: &Path,
) -> Result<Graded, GradingError> {
    let cfg = &task.config;
    let eval_rel = cfg
        .evaluation_paths
        .first()
        .ok_or(GradingError::NoEvaluation)?;
    let ws = sandbox.grader_workspace();
    // The grader gets paths as it sees them; the agent is told its own view (they differ
    // on the local sandbox: the host path vs /home/agent/workspace).
    let agent_ws = sandbox.workspace();
    let mut args: Vec<String> = Vec::new();
    let submission = match cfg.task_entrypoint.as_str() {
        "CSVSubmissionTasks" => {
            let path = format!("{ws}/submission.csv");
            if !sandbox.workspace_on_host().join("submission.csv").is_file() {
                return Err(GradingError::SubmissionNotFound);
            }
            args.extend(["--submission_file".into(), path]);
            format!("{agent_ws}/submission.csv")
        }
        "ModelSubmissionTasks" => {
            let host_ws = sandbox.workspace_on_host();
            let found = find_first_yaml(&host_ws);
            let Some(host_path) = found else {
                return Err(GradingError::SubmissionNotFound);
            };
            let rel = Path::new(&host_path)
                .strip_prefix(&host_ws)
                .map_or_else(|_| host_path.clone(), |r| r.to_string_lossy().into_owned());
            let path = format!("{ws}/{rel}");
            args.extend(["--config_fname".into(), path]);
            format!("{agent_ws}/{rel}")
        }
        _ => {
            // Python tasks: the agent's editable starter file (MLGym reports target.py).
            let editable = cfg
                .starter_code
                .iter()
                .filter_map(|s| {
                    Path::new(s)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .find(|n| {
                    n != Path::new(eval_rel)
                        .file_name()
                        .map_or("", |f| f.to_str().unwrap_or(""))
                });
            format!(
                "{agent_ws}/{}",
                editable.unwrap_or_else(|| eval_rel.clone())
            )
        }
    };
    // Drawn before anything is copied or run: without it there is nothing to grade.
    let nonce = nonce_from(random_source)?;
    let grading_dir = sandbox.make_private_dir()?;
    let result = (|| {
        let eval_src = pristine_source(task, eval_rel).ok_or(GradingError::NoEvaluation)?;
        let eval_name = Path::new(eval_rel)
            .file_name()
            .map_or("evaluate.py".to_string(), |n| {
                n.to_string_lossy().into_owned()
            });
        sandbox.copy_in(&eval_src, &grading_dir, &eval_name)?;
        for secret in &cfg.secret_files {
            let src = task.root.join(secret);
            let name = src
                .file_name()
                .map_or(secret.clone(), |n| n.to_string_lossy().into_owned());
            sandbox.copy_in(&src, &grading_dir, &name)?;
        }
        let env = grader_env(opts, &grading_dir, &ws);
        let mut argv = vec![opts.python.clone()];
        argv.extend(ISOLATED_PYTHON_FLAGS.iter().map(|f| f.to_string()));
        argv.push(format!("{grading_dir}/{eval_name}"));
        argv.extend(args);
        // The grader's stdin carries the nonce, then the opponents' key: neither is in
        // its environment or argv, where other processes could read them.
        let out = sandbox.exec(&ExecRequest {
            argv,
            cwd: "/".into(),
            env,
            stdin: format!("{nonce}\n{}\n", opts.key).into_bytes(),
            timeout: opts.timeout,
        })?;
        if out.timed_out {
            return Err(GradingError::Timeout {
                seconds: opts.timeout.as_secs(),
            });
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        match parse_metrics(&stdout, &nonce, cfg.metrics.is_empty()) {
            Some(metrics) if out.status == 0 => Ok(Graded {
                metrics,
                submission: submission.clone(),
                elapsed: out.elapsed,
            }),
            _ => {
                let mut output = stdout.trim_end().to_string();
                let stderr = String::from_utf8_lossy(&out.stderr);
                if !stderr.trim().is_empty() {
                    if !output.is_empty() {
                        output.push('\n');
                    }
                    output.push_str(stderr.trim_end());
                }
                Err(GradingError::EvaluationFormat { output })
            }
        }
    })();
    sandbox.remove(&grading_dir);
    result
}

fn find_first_yaml(dir: &Path) -> Option<String> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in &entries {
            if p.is_file() && p.extension().is_some_and(|e| e == "yaml") {
                return Some(p.to_string_lossy().into_owned());
            }
        }
        stack.extend(entries.into_iter().filter(|p| p.is_dir()).rev());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_line_wins_and_forgeries_lose() {
        let out = "{\"Score\": 99}\nMLGYM-METRICS abc {\"Score\": 1.5}\n";
        assert_eq!(parse_metrics(out, "abc", true).unwrap()["Score"], 1.5);
        assert!(parse_metrics("MLGYM-METRICS bad {\"Score\": 9}", "abc", true).is_none());
        assert!(parse_metrics("{\"Score\": 99}", "abc", false).is_none());
    }

    /// A sandbox that records what grading asked of it and never runs anything.
    #[derive(Default)]
    struct RecordingSandbox {
        calls: Vec<&'static str>,
    }

    impl Sandbox for RecordingSandbox {
        fn workspace(&self) -> String {
            "/nonexistent/workspace".into()
        }
        fn shell_factory(&self) -> Box<dyn crate::shell::ShellFactory> {
            unimplemented!("grading never starts a shell")
        }
        fn populate_workspace(
            &mut self,
            _: &[(std::path::PathBuf, String, bool)],
        ) -> Result<(), SandboxError> {
            self.calls.push("populate_workspace");
            Ok(())
        }
        fn make_private_dir(&mut self) -> Result<String, SandboxError> {
            self.calls.push("make_private_dir");
            Ok("/nonexistent/private".into())
        }
        fn copy_in(&mut self, _: &Path, _: &str, _: &str) -> Result<(), SandboxError> {
            self.calls.push("copy_in");
            Ok(())
        }
        fn remove(&mut self, _: &str) {
            self.calls.push("remove");
        }
        fn exec(&mut self, _: &ExecRequest) -> Result<crate::sandbox::ExecOutput, SandboxError> {
            self.calls.push("exec");
            Err(SandboxError::Stopped)
        }
        fn stop(&mut self) {}
    }

    #[test]
    fn grading_fails_closed_without_os_randomness() {
        let config: crate::task::TaskConfig = serde_yaml::from_str(
            "id: t\nname: t\ndescription: d\ntask_entrypoint: PythonSubmissionTasks\nstarter_code: [train.py, evaluate.py]\n\
             evaluation_paths: [evaluate.py]\n",
        )
        .expect("a minimal task parses");
        let task = LoadedTask {
            config,
            root: "/nonexistent/task".into(),
            yaml_path: "/nonexistent/task/t.yaml".into(),
            datasets: Vec::new(),
        };
        let opts = GradingOptions {
            seed: 0,
            timeout: Duration::from_secs(1),
            python: "python3".into(),
            env: BTreeMap::new(),
            key: "k".into(),
        };
        let mut sandbox = RecordingSandbox::default();
        let missing = Path::new("/nonexistent/mlgym-random-source");
        let err = grade_with_random_source(&mut sandbox, &task, &opts, missing)
            .expect_err("no randomness, no grading");
        assert!(matches!(err, GradingError::Randomness(_)), "{err}");
        assert!(err.is_infra());
        assert_eq!(err.exit_status_prefix(), "infra_error");
        // Refused before anything was copied in or run.
        assert!(sandbox.calls.is_empty(), "{:?}", sandbox.calls);
        assert!(nonce_from(missing).is_err());
        assert_eq!(
            nonce_from(Path::new(OS_RANDOM_SOURCE))
                .map(|n| n.len())
                .ok(),
            Some(2 * NONCE_BYTES)
        );
    }

    #[test]
    fn mlgym_fallbacks() {
        assert_eq!(
            parse_metrics("{\"r2\": 0.5}", "n", true).unwrap()["r2"],
            0.5
        );
        assert_eq!(
            parse_metrics("log\n{\"a\": 1}\nmore", "n", true).unwrap()["a"],
            1.0
        );
        assert!(parse_metrics("nothing", "n", true).is_none());
    }
}
