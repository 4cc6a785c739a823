//! Small operating-system helpers shared by several layers, one job per file. Nothing
//! here knows about episodes, shells or the ACI, so every layer may use it; it uses
//! nothing else in the crate.

pub mod dirs;
pub mod poll;
pub mod proc;
pub mod quote;
pub mod random;
