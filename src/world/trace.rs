//! `--debug` (helm's `--debug` arrives as HELM_DEBUG): debug lines on stderr for each helm
//! command run (values of `--set`/`-f` left out: they can hold secrets) and each
//! Kubernetes write request (access reviews
//! are questions, not writes, and are left out).

use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);

pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

pub fn log(message: &str) {
    if enabled() {
        eprintln!("debug: {message}");
    }
}

fn start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Logs a helm command line, values redacted.
pub fn command(command: &std::process::Command) {
    if !enabled() {
        return;
    }
    let args: Vec<&OsStr> = command.get_args().collect();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    log(&format!(
        "[{:>6.2}s] run: {} {}",
        start().elapsed().as_secs_f64(),
        command.get_program().to_string_lossy(),
        redact(&args).join(" ")
    ));
}

const VALUE_FLAGS: [&str; 7] = [
    "--set",
    "--set-literal",
    "--set-string",
    "--set-json",
    "--set-file",
    "--values",
    "-f",
];

/// A flag whose value looks like a secret: `--password`, `--token`, `--client-secret`...
fn secret_flag(flag: &str) -> bool {
    let f = flag.to_ascii_lowercase();
    f.starts_with('-')
        && [
            "password",
            "passwd",
            "token",
            "secret",
            "apikey",
            "api-key",
            "private-key",
        ]
        .iter()
        .any(|w| f.contains(w))
}

/// `--password=x`, `--token x` (flags named like secrets, e.g. from `--helm-arg`) →
/// `--password=<redacted>`; `--set a.b=secret` → `--set a.b=<redacted>`; `-f file` keeps the file name (the file is
/// not printed), `--set-json`/`--set-file` hide the value.
pub fn redact(args: &[String]) -> Vec<String> {
    let hide = |flag: &str, value: &str| -> String {
        match flag {
            "--values" | "-f" => value.to_string(),
            "--secret" => "<redacted>".into(),
            _ => match value.split_once('=') {
                Some((key, _)) => format!("{key}=<redacted>"),
                None => "<redacted>".into(),
            },
        }
    };
    let mut out = Vec::with_capacity(args.len());
    let mut pending: Option<&str> = None;
    for arg in args {
        if let Some(flag) = pending.take() {
            // After a secret-looking flag, a flag means it was a boolean (`--password-stdin`).
            if !(flag == "--secret" && arg.starts_with('-')) {
                out.push(hide(flag, arg));
                continue;
            }
        }
        if let Some((flag, _)) = arg.split_once('=').filter(|(f, _)| secret_flag(f)) {
            out.push(format!("{flag}=<redacted>"));
        } else if secret_flag(arg) {
            pending = Some("--secret");
            out.push(arg.clone());
        } else if let Some(flag) = VALUE_FLAGS.iter().find(|f| arg.as_str() == **f) {
            pending = Some(flag);
            out.push(arg.clone());
        } else if let Some((flag, value)) =
            arg.split_once('=').filter(|(f, _)| VALUE_FLAGS.contains(f))
        {
            out.push(format!("{flag}={}", hide(flag, value)));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// A tower `map_request` hook for the kube client: logs every request that is not a read.
pub fn request<B>(request: http::Request<B>) -> http::Request<B> {
    let question = request.uri().path().ends_with("accessreviews");
    if enabled()
        && !question
        && !matches!(*request.method(), http::Method::GET | http::Method::HEAD)
    {
        log(&format!(
            "[{:>6.2}s] kubernetes: {} {}",
            start().elapsed().as_secs_f64(),
            request.method(),
            request.uri().path()
        ));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn redacts_values() {
        assert_eq!(
            redact(&argv("upgrade r c --set a.key=s3cr3t --set=b=x -f v.yaml --set-json j={} --version 1")),
            argv("upgrade r c --set a.key=<redacted> --set=b=<redacted> -f v.yaml --set-json j=<redacted> --version 1")
        );
    }

    #[test]
    fn redacts_flags_that_look_like_secrets() {
        assert_eq!(
            redact(&argv("upgrade r c --password=hunter2 --token abc --Client-Secret=s --password-stdin --wait --set-literal k=v --username=me")),
            argv("upgrade r c --password=<redacted> --token <redacted> --Client-Secret=<redacted> --password-stdin --wait --set-literal k=<redacted> --username=me")
        );
    }
}
