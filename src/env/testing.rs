//! Fakes for unit-testing the episode state machine without bash or a container: a
//! sandbox whose "grader" is scripted, and a console that answers from a rule table.

use super::ports::{Console, SandboxFactory, SandboxSpec};
use super::EnvError;
use crate::aci::{AciConfig, GradingRequest, StepKind, StepOutput};
use crate::sandbox::{ExecOutput, ExecRequest, Sandbox, SandboxError};
use crate::shell::{ShellError, ShellFactory, ShellState, ShellTransport, TimeoutKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("mlgym-envtest-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a task (`fake`, primary metric `Score` to maximise, baseline 2.0) under
/// `root` and returns its YAML path.
pub fn write_task(root: &Path, entrypoint: &str) -> PathBuf {
    let task_dir = root.join("tasks/fake");
    std::fs::create_dir_all(&task_dir).expect("task dir");
    std::fs::create_dir_all(root.join("configs/tasks")).expect("configs dir");
    std::fs::write(
        task_dir.join("evaluate.py"),
        "# scripted by the fake sandbox\n",
    )
    .expect("evaluate.py");
    std::fs::write(task_dir.join("target.py"), "VALUE = 0\n").expect("target.py");
    let yaml = root.join("configs/tasks/fake.yaml");
    std::fs::write(
        &yaml,
        format!(
            "id: fake\nname: Fake\ndescription: A task for unit tests.\n\
             task_entrypoint: {entrypoint}\ntraining_timeout: 60\n\
             starter_code:\n  - tasks/fake/target.py\n  - tasks/fake/evaluate.py\n\
             baseline_scores:\n  - Score: 2.0\nevaluation_paths:\n  - evaluate.py\n\
             metrics:\n  - name: Score\n    direction: maximize\n    primary: true\n"
        ),
    )
    .expect("task yaml");
    yaml
}

/// What the next gradings do.
#[derive(Debug, Clone, PartialEq)]
pub enum Grader {
    /// Prints a nonce-tagged metrics line with this `Score`.
    Score(f64),
    /// Prints a metrics line with a guessed nonce (a forgery).
    Forged(f64),
    /// Prints nothing useful.
    Garbage,
    /// Runs past its limit.
    Hangs,
    /// The sandbox fails underneath it.
    Infra,
}

/// What the fakes saw, shared with the test.
#[derive(Debug)]
pub struct Probe {
    pub grader: Mutex<Grader>,
    pub sandboxes_created: AtomicU64,
    pub sandboxes_stopped: AtomicU64,
    pub consoles_started: AtomicU64,
    pub gradings: AtomicU64,
    pub actions: Mutex<Vec<String>>,
    pub grader_env: Mutex<Vec<(String, String)>>,
    pub workspace: PathBuf,
}

impl Probe {
    pub fn new(workspace: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            grader: Mutex::new(Grader::Score(3.0)),
            sandboxes_created: AtomicU64::new(0),
            sandboxes_stopped: AtomicU64::new(0),
            consoles_started: AtomicU64::new(0),
            gradings: AtomicU64::new(0),
            actions: Mutex::new(Vec::new()),
            grader_env: Mutex::new(Vec::new()),
            workspace,
        })
    }

    pub fn set_grader(&self, g: Grader) {
        *self.grader.lock().expect("probe") = g;
    }

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

/// The factory of fakes.
pub struct FakeSandboxes(pub Arc<Probe>);

impl SandboxFactory for FakeSandboxes {
    fn create(&self, _spec: &SandboxSpec<'_>) -> Result<Box<dyn Sandbox>, EnvError> {
        self.0.sandboxes_created.fetch_add(1, Ordering::SeqCst);
        std::fs::create_dir_all(&self.0.workspace).map_err(|source| SandboxError::Io {
            action: "create",
            path: self.0.workspace.clone(),
            source,
        })?;
        Ok(Box::new(FakeSandbox(self.0.clone())))
    }

    fn start_console(
        &self,
        _sandbox: &mut dyn Sandbox,
        _shell_vars: &[(String, String)],
        _aci: AciConfig,
    ) -> Result<Box<dyn Console>, EnvError> {
        self.0.consoles_started.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(ScriptedConsole(self.0.clone())))
    }
}

struct FakeSandbox(Arc<Probe>);

struct NoShells;

impl ShellFactory for NoShells {
    fn spawn(&self) -> std::io::Result<Box<dyn ShellTransport>> {
        Err(std::io::Error::other("the fake sandbox has no shell"))
    }
    fn runtime_path(&self) -> String {
        String::new()
    }
    fn state_file(&self) -> String {
        String::new()
    }
}

impl Sandbox for FakeSandbox {
    fn workspace(&self) -> String {
        self.0.workspace.to_string_lossy().into_owned()
    }
    fn shell_factory(&self) -> Box<dyn ShellFactory> {
        Box::new(NoShells)
    }
    fn populate_workspace(&mut self, _: &[(PathBuf, String, bool)]) -> Result<(), SandboxError> {
        Ok(())
    }
    fn make_private_dir(&mut self) -> Result<String, SandboxError> {
        Ok("/fake/grading".into())
    }
    fn copy_in(&mut self, _: &Path, _: &str, _: &str) -> Result<(), SandboxError> {
        Ok(())
    }
    fn remove(&mut self, _: &str) {}
    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput, SandboxError> {
        self.0.gradings.fetch_add(1, Ordering::SeqCst);
        *self.0.grader_env.lock().expect("probe") = request
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // stdin is the nonce line, then the opponents' key line.
        let stdin = String::from_utf8_lossy(&request.stdin).into_owned();
        let nonce = stdin.lines().next().unwrap_or("").trim().to_string();
        let grader = self.0.grader.lock().expect("probe").clone();
        let (stdout, timed_out) = match grader {
            Grader::Score(s) => (format!("MLGYM-METRICS {nonce} {{\"Score\": {s}}}\n"), false),
            Grader::Forged(s) => (format!("MLGYM-METRICS 0000 {{\"Score\": {s}}}\n"), false),
            Grader::Garbage => ("no metrics here\n".to_string(), false),
            Grader::Hangs => (String::new(), true),
            Grader::Infra => return Err(SandboxError::Stopped),
        };
        Ok(ExecOutput {
            stdout: stdout.into_bytes(),
            stderr: Vec::new(),
            status: 0,
            timed_out,
            elapsed: Duration::from_millis(1),
        })
    }
    fn stop(&mut self) {
        self.0.sandboxes_stopped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Answers by rule: `validate`/`submit` print MLGym's markers, `hang` times out,
/// `crash` kills the shell (which comes back), `fail` exits 1, anything else echoes.
struct ScriptedConsole(Arc<Probe>);

impl Console for ScriptedConsole {
    fn run(&mut self, action: &str) -> Result<StepOutput, ShellError> {
        self.0
            .actions
            .lock()
            .expect("probe")
            .push(action.to_string());
        let mut out = StepOutput {
            observation: format!("ran {action}"),
            exit_code: Some(0),
            state: self.state(),
            kind: StepKind::Shell,
            timed_out: None,
            shell_restarted: None,
            grading: None,
            elapsed: Duration::from_micros(10),
        };
        match action.trim() {
            "validate" => out.grading = Some(GradingRequest::Validate),
            "submit" => out.grading = Some(GradingRequest::Submit),
            "hang" => {
                out.timed_out = Some(TimeoutKind::Total);
                out.exit_code = None;
            }
            "crash" => {
                out.shell_restarted = Some(137);
                out.exit_code = None;
            }
            "fail" => out.exit_code = Some(1),
            "blocked validate" => {
                out.kind = StepKind::Blocked;
                out.grading = Some(GradingRequest::Validate);
            }
            _ => {}
        }
        Ok(out)
    }

    fn state(&self) -> ShellState {
        ShellState {
            open_file: "n/a".into(),
            working_dir: self.0.workspace.to_string_lossy().into_owned(),
        }
    }
}
