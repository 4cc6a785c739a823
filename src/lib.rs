//! mlgym-rs: ML research tasks as Gymnasium environments for AI research agents.
//!
//! Layers (DESIGN.md §2): [`task`] loads MLGym's YAML; [`sandbox`] is where an episode
//! runs; [`shell`] drives one persistent bash; [`aci`] is MLGym's agent-computer
//! interface on top; [`grading`] runs graders in fresh processes; [`env`] is the episode
//! state machine; `python` (feature `python`) binds it all for `import mlgym`.

pub mod aci;
pub mod env;
pub mod gpu;
pub mod grading;
pub mod pyrepr;
pub mod sandbox;
pub mod session;
pub mod shell;
pub mod sys;
pub mod task;

#[cfg(feature = "python")]
mod python;

pub use env::{Env, EnvConfig, EnvError, Info, RewardMode, StepResult};
