//! The planner: pure decisions. Facts about a release (plain data read by
//! `world`) and a target version go in; a `Plan` of ordered hops, its warnings
//! and the pre-flight rules come out. No I/O, no clap, no kube, no tokio, no
//! helm argv: a hop says "chart X with values V", the helm adapter makes argv.
//! Imports nothing of ours from outside this folder.

pub mod chart_history;
pub mod chart_select;
pub mod component;
pub mod error;
pub mod facts;
pub mod hop_values;
pub mod ordered;
pub mod plan;
pub mod preflight;
pub mod provenance;
pub mod version;
pub mod warnings;
