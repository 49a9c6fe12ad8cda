//! Presentation: the plan, versions and status as text, progress on stderr
//! (bars on a terminal, plain lines otherwise) and colour. Reads the types of
//! `planner` and `exec` (status, events); nothing below imports from here.

pub mod color;
pub mod fleet;
pub mod plan_text;
pub mod progress;
pub mod status;
