//! A loopback HTTP server for files (a release location, a mirror, an HTTP proxy), and a
//! PATH on which chosen programs do not exist.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Serves the files below a directory on 127.0.0.1 (a free port) until the test process
/// ends: `GET /a/b` answers the file `a/b` or 404. Requests in proxy form
/// (`GET http://any.host/a/b`) are answered the same way, so it also plays an HTTP proxy.
pub struct FileServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    pub fn start(root: &Path) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (root, seen) = (root.to_path_buf(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, seen) = (root.clone(), seen.clone());
                std::thread::spawn(move || answer(stream, &root, &seen));
            }
        });
        FileServer { port, requests }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request targets so far, in order (`/a/b`, or `http://host/a/b` through the proxy).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, root: &Path, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // The rest of the head is not needed; read it so the client sees an orderly answer.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    seen.lock().unwrap().push(target.clone());
    let path = target
        .strip_prefix("http://")
        .map(|rest| rest.find('/').map_or("/", |i| &rest[i..]))
        .unwrap_or(&target);
    let path = path.split('?').next().unwrap_or_default();
    let file = file_below(root, path);
    let (status, body) = match file.and_then(|f| std::fs::read(f).ok()) {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// `root/path` if `path` stays below `root` and names a file.
fn file_below(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    let file = root.join(rel);
    (plain && file.is_file()).then_some(file)
}

/// A directory of links to every program on this process's PATH except `hidden` (e.g.
/// `cargo`, `curl`): use it as PATH for a machine without those programs.
pub fn path_without(hidden: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("e2e-path-")
        .tempdir()
        .expect("tempdir");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for entry in std::env::split_paths(&path).filter_map(|d| std::fs::read_dir(d).ok()) {
        for program in entry.flatten() {
            let name = program.file_name();
            let link = dir.path().join(&name);
            if hidden.iter().any(|h| name == *h) || link.symlink_metadata().is_ok() {
                continue;
            }
            // The first on PATH wins, as for a lookup.
            let _ = std::os::unix::fs::symlink(program.path(), link);
        }
    }
    dir
}
