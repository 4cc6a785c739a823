//! mlgym-rs: ML research tasks as Gymnasium environments for AI research agents.
//!
//! Layers, bottom up: [`sys`] holds small OS helpers;
//! [`task`] loads MLGym's YAML; [`shell`] is the byte protocol of one persistent bash;
//! [`sandbox`] is where an episode runs and implements the shell's transport; [`aci`] is
//! MLGym's agent-computer interface on top (its bash runtime, prelude and output rules);
//! [`grading`] runs graders in fresh processes; [`env`] is the episode state machine;
//! `python` (feature `python`) binds it all for `import mlgym`. [`settings`] holds every
//! `MLGYM_*` variable the core reads (docs/settings.md) and [`gpu`] the GPU leases.
//! One edge points up on purpose: sandboxes install the runtime files that [`aci`] writes
//! (`aci::runtime::RUNTIME_FILES`), as data; they call nothing in it.

pub mod aci;
pub mod env;
pub mod gpu;
pub mod grading;
pub mod pyrepr;
pub mod sandbox;
pub mod session;
pub mod settings;
pub mod shell;
pub mod sys;
pub mod task;

#[cfg(feature = "python")]
mod python;

pub use env::{Env, EnvError, EnvOptions, Info, RewardMode, StepResult};
