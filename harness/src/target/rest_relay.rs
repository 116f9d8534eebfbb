//! Mailman's REST API from inside the lists container, through one
//! long-lived `docker exec -i` running a small Python relay: a call is a
//! JSON line in and a JSON line out, a few milliseconds, where a `docker
//! exec` per call costs 0.1 to 0.5 s (provisioning a suite makes about
//! twenty calls, and the held-queue steps poll).
//!
//! The relay reads the REST password from the container's own environment,
//! like the per-call path does; it never crosses into the harness. Calls go
//! one at a time. When the relay cannot be started or breaks, the caller
//! falls back to a `docker exec` per call.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::mailman::RestResponse;

/// Longer than the relay's own timeout for one request (20 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

const RELAY: &str = r#"
import base64, json, os, sys, urllib.error, urllib.parse, urllib.request
auth = "Basic " + base64.b64encode(("restadmin:" + os.environ.get("MAILFLOW_REST_PASSWORD", "")).encode()).decode()
def call(req):
    form = [(k, v) for k, v in req["form"]]
    data = urllib.parse.urlencode(form).encode() if form else None
    r = urllib.request.Request("http://127.0.0.1:8001" + req["path"], data=data, method=req["method"], headers={"Authorization": auth})
    try:
        with urllib.request.urlopen(r, timeout=20) as resp:
            return {"status": resp.status, "body": resp.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode("utf-8", "replace")}
for line in sys.stdin:
    try:
        out = call(json.loads(line))
    except Exception as e:
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"#;

/// Why a call through the relay did not give an HTTP answer.
pub(super) enum RelayError {
    /// The relay is not there or broke: use another way.
    Unavailable,
    /// The relay ran the request and it failed (connection refused, timeout).
    Failed(String),
}

struct Relay {
    // Held so that dropping the relay ends the `docker exec`.
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// One relay per container, started on first use.
pub(super) struct RestRelay {
    container_id: String,
    relay: tokio::sync::Mutex<Option<Relay>>,
}

#[derive(serde::Serialize)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    form: &'a [(&'a str, String)],
}

#[derive(serde::Deserialize)]
struct Response {
    status: Option<u16>,
    body: Option<String>,
    error: Option<String>,
}

impl RestRelay {
    pub(super) fn new(container_id: &str) -> RestRelay {
        RestRelay { container_id: container_id.to_string(), relay: tokio::sync::Mutex::new(None) }
    }

    pub(super) async fn call(&self, method: &str, path: &str, form: &[(&str, String)]) -> Result<RestResponse, RelayError> {
        let mut guard = self.relay.lock().await;
        if guard.is_none() {
            *guard = Some(self.start().map_err(|_| RelayError::Unavailable)?);
        }
        let relay = guard.as_mut().expect("just started");
        let mut line = serde_json::to_string(&Request { method, path, form }).map_err(|_| RelayError::Unavailable)?;
        line.push('\n');
        let exchange = async {
            relay.stdin.write_all(line.as_bytes()).await?;
            relay.stdin.flush().await?;
            let mut answer = String::new();
            if relay.stdout.read_line(&mut answer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok::<_, std::io::Error>(answer)
        };
        let answer = match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => answer,
            // Broken or stuck: drop it (ending the exec); the next call starts another.
            Ok(Err(_)) | Err(_) => {
                *guard = None;
                return Err(RelayError::Unavailable);
            }
        };
        match serde_json::from_str::<Response>(&answer) {
            Ok(Response { status: Some(status), body, .. }) => Ok(RestResponse { status, body: body.unwrap_or_default() }),
            Ok(Response { error: Some(e), .. }) => Err(RelayError::Failed(e)),
            _ => {
                *guard = None;
                Err(RelayError::Unavailable)
            }
        }
    }

    fn start(&self) -> std::io::Result<Relay> {
        let (child, stdin, stdout) = super::docker::exec_piped(&self.container_id, &["python3", "-u", "-c", RELAY])?;
        Ok(Relay { _child: child, stdin, stdout: BufReader::new(stdout) })
    }
}
