//! A little colour for text output on a terminal; none with `--no-color`, NO_COLOR
//! (non-empty), TERM=dumb, or when the stream is not a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT: AtomicBool = AtomicBool::new(false);
static STDERR: AtomicBool = AtomicBool::new(false);

/// Decides once, at start: `no_color` is the flag.
pub fn init(no_color: bool) {
    let allowed = !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb");
    STDOUT.store(
        allowed && std::io::stdout().is_terminal(),
        Ordering::Relaxed,
    );
    STDERR.store(
        allowed && std::io::stderr().is_terminal(),
        Ordering::Relaxed,
    );
}

#[derive(Debug, Clone, Copy)]
pub enum Colour {
    Red = 31,
    Green = 32,
    Yellow = 33,
    Bold = 1,
}

fn paint(on: bool, text: &str, colour: Colour) -> String {
    if on {
        format!("\x1b[{}m{text}\x1b[0m", colour as u8)
    } else {
        text.to_string()
    }
}

/// For text printed on stdout.
pub fn out(text: &str, colour: Colour) -> String {
    paint(STDOUT.load(Ordering::Relaxed), text, colour)
}

/// For text printed on stderr.
pub fn err(text: &str, colour: Colour) -> String {
    paint(STDERR.load(Ordering::Relaxed), text, colour)
}
