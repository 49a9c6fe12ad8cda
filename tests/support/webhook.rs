//! A validating admission webhook that fails its first calls, as a policy engine
//! does while it restarts or times out: for those the API server refuses the
//! request itself, 500 "Internal error occurred: failed calling webhook". The
//! webhook is a real HTTPS server (python3's ssl, a certificate made with openssl)
//! registered with the API server; it watches the creates of one Helm release's
//! release Secrets, i.e. each `helm upgrade`/`rollback` recording its revision.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use super::{block_on, client, dry_run_create, TestNs, User};

/// Answers AdmissionReviews: HTTP 500 to the first FAILS, allowed after; one line
/// per call in LOG ("fail NAME" / "allow NAME"). Prints its port once listening.
const SERVER: &str = r#"
import http.server, json, ssl, sys
cert, key, fails, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
calls = 0
class Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global calls
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        calls += 1
        failing = calls <= fails
        with open(log, "a") as f:
            f.write("%s %s\n" % ("fail" if failing else "allow", request["object"]["metadata"]["name"]))
        if failing:
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": {"uid": request["uid"], "allowed": True}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

pub struct FlakyWebhook {
    name: String,
    server: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FlakyWebhook {
    /// Registers a webhook on the creates of `release`'s Helm release Secrets in
    /// `ns` that fails the first `fails` of them, and returns once the API server
    /// calls it.
    pub fn on_helm_revisions(ns: &TestNs, release: &str, fails: usize) -> FlakyWebhook {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key, log) = (
            dir.path().join("cert.pem"),
            dir.path().join("key.pem"),
            dir.path().join("calls.log"),
        );
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(made.success(), "openssl req");
        let mut server = Command::new("python3")
            .args(["-c", SERVER])
            .arg(&cert)
            .arg(&key)
            // One more for the probe that sees the webhook in force.
            .arg((fails + 1).to_string())
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut port = String::new();
        BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("webhook port");
        let name = format!("flaky-{}", ns.name());
        let mut config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": name},
            "webhooks": [{
                "name": "flaky.helm-milvus-upgrade.test",
                "clientConfig": {"url": format!("https://127.0.0.1:{}/", port.trim())},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": ["secrets"], "scope": "Namespaced"}],
                "objectSelector": {"matchLabels": {"owner": "helm", "name": release}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }],
        }))
        .expect("webhook configuration");
        let ca = std::fs::read(&cert).expect("cert.pem");
        for w in config.webhooks.iter_mut().flatten() {
            w.client_config.ca_bundle = Some(ByteString(ca.clone()));
        }
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client(User::Admin));
        block_on(async move { api.create(&PostParams::default(), &config).await })
            .unwrap_or_else(|e| panic!("create ValidatingWebhookConfiguration: {e}"));
        let webhook = FlakyWebhook {
            name,
            server,
            log,
            _dir: dir,
        };
        in_force(ns, release);
        webhook
    }

    /// The calls so far but the probe's, in order: "fail NAME" or "allow NAME".
    pub fn calls(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| !l.ends_with(PROBE))
            .map(String::from)
            .collect()
    }
}

const PROBE: &str = "webhook-probe";

/// Waits until the API server calls the webhook (it picks up a new configuration
/// a moment after it is made), proven by a dry-run create it refuses.
fn in_force(ns: &TestNs, release: &str) {
    let probe: Secret = serde_json::from_value(json!({
        "metadata": {"name": PROBE, "labels": {"owner": "helm", "name": release}},
    }))
    .expect("probe secret");
    let start = Instant::now();
    loop {
        match dry_run_create(User::Admin, ns.name(), &probe) {
            Err(e) if e.to_string().contains("failed calling webhook") => return,
            _ if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => panic!("the webhook is not called after 30s: {other:?}"),
        }
    }
}

impl Drop for FlakyWebhook {
    fn drop(&mut self) {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client(User::Admin));
        let name = self.name.clone();
        let _ = block_on(async move { api.delete(&name, &DeleteParams::default()).await });
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
