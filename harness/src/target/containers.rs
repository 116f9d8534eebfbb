//! The container target: the lists image started through testcontainers,
//! with the harness's sink on the Docker host.
//!
//! Exim in the container routes the probe domain to the sink at the bridge
//! gateway address (where a container reaches the host); the harness reaches
//! exim at the container's bridge address, as an outside client would.
//! Mailman's REST API stays on the container's loopback and is called from
//! inside the container, with the password taken from the container's own
//! environment so it never crosses into the harness's output.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::docker::{ensure_daemon, network_gateway, reap_stale_containers, OWNER_LABEL};
use super::images::{ensure_base_image, ensure_image, ImageReport};
use super::{ArchivedCopy, BoxFuture, MailmanQueueFacts, Target, TargetError};
use crate::mailman::{Decision, HeldMessage, MailmanRest, OwnHeld, RestResponse, RestTransport};
use crate::scenario::Suite;
use crate::sink::Sink;
use crate::web::Web;

/// The line the image's start script prints once exim and Mailman answer.
const READY_LINE: &str = "mailflow-lists ready";
const MAILMAN_VAR: &str = "/var/lib/mailman3";
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// What starting the target did, for the report.
#[derive(Debug, Clone)]
pub struct StartReport {
    pub images: Vec<ImageReport>,
    pub container_start: Duration,
    pub provisioning: Duration,
    /// Whether the web side (HyperKitty, Postorius) was started.
    pub web: bool,
}

impl StartReport {
    /// One line per image: built or reused, and how long that took.
    pub fn image_lines(&self) -> Vec<String> {
        self.images
            .iter()
            .map(|i| format!("image {} {} in {:.1}s", i.image, if i.built { "built" } else { "reused" }, i.took.as_secs_f64()))
            .collect()
    }

    /// The container's start and provisioning times.
    pub fn summary_tail(&self) -> String {
        let web = if self.web { "with" } else { "without" };
        format!(
            "container started in {:.1}s ({web} the web side), lists provisioned in {:.1}s",
            self.container_start.as_secs_f64(),
            self.provisioning.as_secs_f64()
        )
    }
}

/// How to start the lists container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Also start the web side (mailman3-web: HyperKitty and Postorius under
    /// uwsgi behind nginx; `MAILFLOW_WEB=1`). It adds start-up time, so tests
    /// that do not read archives over HTTP leave it off.
    pub web: bool,
}

impl StartOptions {
    /// Everything on, as `mailflow run` and the scenario trials use it.
    pub fn full() -> StartOptions {
        StartOptions { web: true }
    }

    /// [`StartOptions::full`], except that `MAILFLOW_WEB=0` in the harness's
    /// environment leaves the web side off (faster; HyperKitty and page steps
    /// are then skipped with the reason).
    pub fn from_env() -> StartOptions {
        StartOptions { web: std::env::var("MAILFLOW_WEB").map(|v| v.trim() != "0").unwrap_or(true) }
    }
}

/// The running lists container and the sink it delivers to.
pub struct ContainersTarget {
    /// Taken out on shutdown; `None` afterwards.
    container: std::sync::Mutex<Option<ContainerAsync<GenericImage>>>,
    container_id: String,
    container_ip: IpAddr,
    probe_domain: String,
    sink: Sink,
    web: Option<Web>,
    pub report: StartReport,
}

impl ContainersTarget {
    /// Builds the images if needed, starts the lists container, waits until
    /// exim and Mailman answer, and creates the suite's domains, lists and
    /// members. Without the web side; see [`ContainersTarget::start_with`].
    pub async fn start(suite: &Suite) -> Result<ContainersTarget, TargetError> {
        Self::start_with(suite, StartOptions::default()).await
    }

    /// As [`ContainersTarget::start`], with options (the web side).
    pub async fn start_with(suite: &Suite, options: StartOptions) -> Result<ContainersTarget, TargetError> {
        ensure_daemon().await?;
        reap_stale_containers().await?;
        let base = ensure_base_image().await?;
        let lists = ensure_image("lists", &base.image).await?;

        let gateway = network_gateway("bridge").await?;
        let sink = Sink::bind(SocketAddr::new(gateway, 0)).await.map_err(|e| {
            TargetError::Start(format!("cannot bind the sink on the bridge gateway {gateway}: {e}"))
        })?;

        let mut domains: Vec<&str> = suite.lists.iter().map(|l| l.domain.as_str()).collect();
        domains.dedup();
        let (repo, tag) = lists.image.split_once(':').expect("tagged image");
        let started = std::time::Instant::now();
        let container = GenericImage::new(repo, tag)
            .with_wait_for(WaitFor::message_on_stdout(READY_LINE))
            .with_env_var("MAILFLOW_SINK_HOST", gateway.to_string())
            .with_env_var("MAILFLOW_SINK_PORT", sink.addr().port().to_string())
            .with_env_var("MAILFLOW_PROBE_DOMAIN", suite.probe_domain.clone())
            .with_env_var("MAILFLOW_LIST_DOMAINS", domains.join(":"))
            .with_env_var("MAILFLOW_REST_PASSWORD", random_password())
            .with_env_var("MAILFLOW_WEB", if options.web { "1" } else { "0" })
            .with_label(OWNER_LABEL, std::process::id().to_string())
            .with_cap_add("NET_ADMIN")
            // testcontainers publishes every exposed port on all host
            // interfaces; the harness reaches the container on its bridge
            // address, so nothing is published beyond this machine.
            .with_host_config_modifier(|hc| hc.publish_all_ports = Some(false))
            .with_startup_timeout(Duration::from_secs(240))
            .start()
            .await
            .map_err(|e| TargetError::Start(e.to_string()))?;
        let container_start = started.elapsed();
        let container_id = container.id().to_string();
        let container_ip = container_address(&container_id).await?;

        let target = ContainersTarget {
            container: std::sync::Mutex::new(Some(container)),
            container_id,
            container_ip,
            probe_domain: suite.probe_domain.clone(),
            sink,
            web: options.web.then(|| Web::new(&format!("http://{container_ip}"))),
            report: StartReport { images: vec![base, lists], container_start, provisioning: Duration::ZERO, web: options.web },
        };
        let provisioning = std::time::Instant::now();
        target.provision(suite).await?;
        let mut target = target;
        target.report.provisioning = provisioning.elapsed();
        Ok(target)
    }

    async fn provision(&self, suite: &Suite) -> Result<(), TargetError> {
        let rest = MailmanRest::new(self);
        rest.versions().await?;
        for list in &suite.lists {
            rest.ensure_domain(&list.domain).await?;
            rest.ensure_list(&list.address()).await?;
            for m in &list.members {
                rest.ensure_member(&list.list_id(), m).await?;
            }
            rest.apply_list_settings(list).await?;
        }
        Ok(())
    }

    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    pub fn container_ip(&self) -> IpAddr {
        self.container_ip
    }

    /// Runs a command in the container: exit code, stdout, stderr. Through
    /// `docker exec`, whose exit status is exact, unlike testcontainers' exec
    /// which reports it only some time after the streams end.
    pub async fn exec(&self, argv: &[&str]) -> Result<(i64, String, String), TargetError> {
        if self.container.lock().map(|c| c.is_none()).unwrap_or(true) {
            return Err(TargetError::Exec("the container was removed".into()));
        }
        let mut cmd = tokio::process::Command::new("docker");
        cmd.arg("exec").arg(&self.container_id).args(argv).stdin(std::process::Stdio::null()).kill_on_drop(true);
        let out = tokio::time::timeout(EXEC_TIMEOUT, cmd.output())
            .await
            .map_err(|_| TargetError::Timeout { what: format!("`{}` in the container", argv.join(" ")), after: EXEC_TIMEOUT })?
            .map_err(|e| TargetError::Exec(format!("cannot run docker exec: {e}")))?;
        let code = out.status.code().map(i64::from).unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    /// Stops and removes the container. Also done on drop, but an explicit
    /// call reports errors and does not depend on a runtime at drop time.
    pub async fn shutdown(&self) -> Result<(), TargetError> {
        let taken = self.container.lock().ok().and_then(|mut c| c.take());
        if let Some(c) = taken {
            c.rm().await.map_err(|e| TargetError::Docker(format!("removing {}: {e}", self.container_id)))?;
        }
        Ok(())
    }
}

impl RestTransport for ContainersTarget {
    fn call<'a>(&'a self, method: &'a str, path: &'a str, form: &'a [(&'a str, String)]) -> BoxFuture<'a, Result<RestResponse, TargetError>> {
        Box::pin(async move {
            // The credentials come from the container's environment inside the
            // shell and reach curl on stdin: never in argv here or in output.
            let script = r#"m="$1"; shift; printf 'user = "restadmin:%s"\n' "$MAILFLOW_REST_PASSWORD" | curl -sS --max-time 20 -K - -w '\n%{http_code}' -X "$m" "$@""#;
            let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), script.into(), "sh".into(), method.into()];
            for (k, v) in form {
                argv.push("--data-urlencode".into());
                argv.push(format!("{k}={v}"));
            }
            argv.push(format!("http://127.0.0.1:8001{path}"));
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let (code, out, err) = self.exec(&args).await?;
            if code != 0 {
                return Err(TargetError::Rest { method: method.into(), path: path.into(), message: format!("curl exit {code}: {}", err.trim()) });
            }
            let (body, status) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
            let status = status.trim().parse().map_err(|_| TargetError::Rest {
                method: method.into(),
                path: path.into(),
                message: format!("no HTTP status in curl output {out:?}"),
            })?;
            Ok(RestResponse { status, body: body.to_string() })
        })
    }
}

impl Target for ContainersTarget {
    fn describe(&self) -> String {
        format!("containers (lists container {} at {})", &self.container_id[..12.min(self.container_id.len())], self.container_ip)
    }

    fn probe_domain(&self) -> &str {
        &self.probe_domain
    }

    fn smtp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.container_ip, 25)
    }

    fn sink(&self) -> Option<&Sink> {
        Some(&self.sink)
    }

    fn find_in_prototype_archive<'a>(&'a self, list_address: &'a str, message_id: &'a str) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>> {
        Box::pin(async move {
            let dir = format!("{MAILMAN_VAR}/archives/prototype/{list_address}");
            let bare = message_id.trim_start_matches('<').trim_end_matches('>');
            let new = format!("{dir}/new");
            let cur = format!("{dir}/cur");
            let (code, out, err) = self.exec(&["grep", "-rlsF", "-e", bare, "--", &new, &cur]).await?;
            match code {
                0 => Ok(out.lines().next().map(|p| ArchivedCopy { location: p.to_string() })),
                // 1: no match; 2 with no message: the maildir does not exist yet.
                1 => Ok(None),
                2 if err.trim().is_empty() => Ok(None),
                _ => Err(TargetError::Exec(format!("grep in {dir}: {}", err.trim()))),
            }
        })
    }

    fn held_messages<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>> {
        Box::pin(async move { MailmanRest::new(self).held(list_id).await })
    }

    fn moderate_held<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move { MailmanRest::new(self).moderate(held, decision).await })
    }

    fn mailman_queues<'a>(&'a self, message_id: &'a str) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>> {
        Box::pin(async move {
            // The id goes in as an argument, never into the script's text.
            let script = r#"grep -rlsF -e "$1" "$2/queue"; echo ---; grep -sF -e "$1" /var/log/mailman3/mailman.log | tail -n 20"#;
            let bare = message_id.trim_start_matches('<').trim_end_matches('>');
            let (_, out, err) = self.exec(&["sh", "-c", script, "sh", bare, MAILMAN_VAR]).await?;
            let Some((files, log)) = out.split_once("---\n") else {
                return Err(TargetError::Exec(format!("looking in Mailman's queues: {}", err.trim())));
            };
            let mut facts = MailmanQueueFacts {
                queue_files: files.lines().map(str::to_string).collect(),
                log_lines: log.lines().map(str::to_string).collect(),
            };
            // A shunt is logged by file name, not Message-ID: add those lines.
            for file in facts.queue_files.clone() {
                let base = file.rsplit('/').next().unwrap_or(&file).trim_end_matches(".pck").to_string();
                let (_, out, _) = self.exec(&["grep", "-sF", "-e", &base, "/var/log/mailman3/mailman.log"]).await?;
                facts.log_lines.extend(out.lines().map(str::to_string));
            }
            Ok(facts)
        })
    }

    fn web(&self) -> Option<&Web> {
        self.web.as_ref()
    }

    fn exim_mainlog(&self) -> BoxFuture<'_, Result<String, TargetError>> {
        Box::pin(async move {
            let (code, out, err) = self.exec(&["tail", "-c", "4000000", "/var/log/exim4/mainlog"]).await?;
            if code != 0 {
                return Err(TargetError::Exec(format!("reading exim's mainlog: {}", err.trim())));
            }
            Ok(out)
        })
    }
}

/// The container's address on the default bridge. (testcontainers'
/// `get_bridge_ip_address` looks up a network named "default", which Docker
/// does not have.)
async fn container_address(id: &str) -> Result<IpAddr, TargetError> {
    let out = super::docker::docker(
        &["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id],
        Duration::from_secs(20),
    )
    .await?;
    out.split_whitespace()
        .find_map(|a| a.parse().ok())
        .ok_or_else(|| TargetError::Start(format!("container {id} has no IP address ({})", out.trim())))
}

/// A REST password for this container only; it never leaves the container's environment and this process.
fn random_password() -> String {
    let mut bytes = [0u8; 18];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
