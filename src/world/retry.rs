//! Transient API errors are retried, never taken for the cluster's answer.
//!
//! The one place that says which `kube::Error` is transient: the API server
//! throttling (429) or failing (5xx), a connection refused, reset or timed out
//! (an API server restart, a load balancer), an expired watch (410). Those are
//! retried with exponential backoff (the `backon` crate, which kube-runtime's
//! watcher already uses) for as long as the budget allows — the run's progress
//! deadline. Everything else — forbidden, invalid, conflict, not found — is the
//! cluster's answer and comes back at once.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Whether the request may succeed if sent again unchanged.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => transient_status(status.code),
        // Connection refused/reset/closed, timeouts and TLS handshakes cut short
        // all surface from the HTTP stack as one of these.
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// 410 Gone (an expired watch or list continuation), 429 Too Many Requests,
/// and every 5xx (500 etcd timeouts, 502/503 while an API server starts, 504).
pub fn transient_status(code: u16) -> bool {
    code == 410 || code == 429 || (500..600).contains(&code)
}

/// How long transient errors are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    budget: Duration,
}

impl Retry {
    pub fn within(budget: Duration) -> Self {
        Retry { budget }
    }

    /// No retries: reads before a run fail at once.
    pub fn none() -> Self {
        Retry::within(Duration::ZERO)
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(self.budget))
    }

    /// Runs `op` until it succeeds, fails for good, or the budget is spent
    /// sleeping between transient failures; each retry is said on stderr.
    pub async fn call<T, Fut, F>(&self, op: F) -> kube::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = kube::Result<T>>,
    {
        self.call_when(op, is_transient, |e| {
            format!("Kubernetes API: {}", short(e))
        })
        .await
    }

    /// `call` for any error: `transient` says which are worth sending again,
    /// `said` how a retry is announced.
    pub async fn call_when<T, E, Fut, F>(
        &self,
        op: F,
        transient: fn(&E) -> bool,
        said: fn(&E) -> String,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        op.retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(transient)
            .notify(|e, wait| {
                eprintln!("{}; retrying in {:.1}s", said(e), wait.as_secs_f64());
            })
            .await
    }
}

/// The error in one line, without the status' debug dump.
fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.message),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("x", "y").with_code(code),
        ))
    }

    #[test]
    fn throttling_server_errors_resets_and_expired_watches_are_transient() {
        for code in [410, 429, 500, 502, 503, 504] {
            assert!(is_transient(&api(code)), "{code}");
        }
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&kube::Error::ReadEvents(reset)));
        let refused: tower::BoxError = Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert!(is_transient(&kube::Error::Service(refused)));
    }

    #[test]
    fn the_clusters_answers_are_not_transient() {
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!is_transient(&api(code)), "{code}");
        }
        let bad: serde_json::Error = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(!is_transient(&kube::Error::SerdeError(bad)));
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_an_answer() {
        let calls = AtomicUsize::new(0);
        let retry = Retry::within(Duration::from_secs(5));
        let got = retry
            .call(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(api(503)),
                    1 => Err(api(429)),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(got.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_answer_comes_back_at_once_and_a_spent_budget_ends_the_retries() {
        let calls = AtomicUsize::new(0);
        let retry = Retry::within(Duration::from_millis(500));
        let forbidden: kube::Result<()> = retry
            .call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(api(403))
            })
            .await;
        assert!(forbidden.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let down: kube::Result<()> = Retry::within(Duration::from_millis(300))
            .call(|| async { Err(api(503)) })
            .await;
        assert!(matches!(down, Err(kube::Error::Api(s)) if s.code == 503));
    }
}
