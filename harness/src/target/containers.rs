//! The container target: the lists image started through testcontainers,
//! with the harness's sink on the Docker host, and two vantage containers
//! (a bastion and an old host) for reachability checks.
//!
//! Each run gets its own Docker network (a free /24 of 172.31.0.0/16):
//!
//! | address | who |
//! |---|---|
//! | `.1`  | the gateway: this machine (the sink, the "outside" vantage point) |
//! | `.2`  | the lists container |
//! | `.10` | the old-host container (may reach rsync 873) |
//! | `.11` | the bastion container (may reach ssh 22) |
//!
//! Exim in the container routes the probe domain to the sink at the
//! gateway address (where a container reaches the host); the harness reaches
//! exim at the container's address, as an outside client would.
//! Mailman's REST API stays on the container's loopback and is called from
//! inside the container, with the password taken from the container's own
//! environment so it never crosses into the harness's output.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::docker::{
    address_on, create_run_network, ensure_daemon, reap_stale_containers, reap_stale_networks, remove_network, RunNetwork,
    OWNER_LABEL,
};
use super::images::{ensure_base_image, ensure_image, ImageReport};
use super::hosts::SshConfig;
use super::run_ssh::{self, RunSsh};
use super::through_shell::{self, ServerPaths};
use super::{
    ArchivedCopy, ArchiverFacts, BoxFuture, HeldQueue, ListArchiving, Mailbox, MailmanQueueFacts, MailmanQueues, MtaLog,
    PortAttempt, PrototypeArchive, Reachability, Shell, Target, TargetError, OUTSIDE,
};
use crate::exim;
use super::rest_relay::{RelayError, RestRelay};
use crate::http::{TlsTrust, WebEndpoint};
use crate::mailman::{settings, Decision, HeldMessage, MailmanRest, OwnHeld, RestError, RestResponse, RestTransport};
use crate::probe::ProbeKeys;
use crate::reach;
use crate::scenario::Protocol;
use crate::secret::Secret;
use crate::scenario::Suite;
use crate::sink::{Sink, SinkOptions};
use crate::web::Web;

/// The line the image's start script prints once exim and Mailman answer.
const READY_LINE: &str = "mailflow-lists ready";
/// The line the lists container prints once Mailman's REST API answers:
/// the lists are provisioned from then on, while it finishes starting.
const REST_LINE: &str = "mailflow-lists rest answering";
/// How long the lists container may take to print [`READY_LINE`].
const LISTS_STARTUP_TIMEOUT: Duration = Duration::from_secs(240);
/// The lists image is Debian's layout.
static LISTS_PATHS: std::sync::LazyLock<ServerPaths> = std::sync::LazyLock::new(ServerPaths::debian);
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);
/// The lists image's own CA, which signed nginx's certificate.
const WEB_CA: &str = "/etc/ssl/mailflow/ca.pem";
/// The name nginx's certificate is for.
pub const WEB_HOST: &str = "lists.example.test";
/// Where nginx serves Mailman's REST API when it is exposed (start.sh).
const REST_PATH: &str = "/mailman-rest";
/// Dovecot's CA in the IMAP container (containers/imap/start.sh).
const IMAP_CA: &str = "/etc/dovecot/mailflow/ca.pem";

/// The vantage point inside the lists host: a command run in its container,
/// connecting to its loopback address.
pub const INSIDE: &str = "inside";
pub const BASTION: &str = "bastion";
pub const OLD_HOST: &str = "old-host";
/// Fixed host parts of the vantage containers on the run's network.
const OLD_HOST_HOST: u8 = 10;
const BASTION_HOST: u8 = 11;
/// The DNS container (NSD serving containers/dns/example.test.zone).
const DNS_HOST: u8 = 53;

/// What starting the target did, for the report.
#[derive(Debug, Clone)]
pub struct StartReport {
    pub images: Vec<ImageReport>,
    /// From asking for the containers until the lists container was ready.
    pub container_start: Duration,
    /// Inside the lists container, from its start script's start until each
    /// service first answered (`exim`, `rest`, `lmtp`, `runners`, `web`), in
    /// that script's order; empty when its phases line was not found.
    pub phases: Vec<(String, Duration)>,
    pub provisioning: Duration,
    /// The part of `provisioning` spent making HyperKitty read the lists'
    /// settings (a Django shell, about 1 s of CPU); `None` when not done.
    pub hyperkitty_sync: Option<Duration>,
    /// From asking for the containers until the lists were provisioned:
    /// when the first probe can be sent.
    pub first_probe: Duration,
    /// Whether the web side (HyperKitty, Postorius) was started.
    pub web: bool,
    /// What the container runs, from Mailman's `GET /3.1/system/versions`
    /// (`mailman_version`, `python_version`, `api_version`).
    pub versions: Vec<(String, String)>,
}

impl StartReport {
    /// One line per image: built or reused, and how long that took.
    pub fn image_lines(&self) -> Vec<String> {
        self.images
            .iter()
            .map(|i| format!("image {} {} in {:.1}s", i.image, if i.built { "built" } else { "reused" }, i.took.as_secs_f64()))
            .collect()
    }

    /// The phases of getting ready, for [`crate::run::Event::TargetReady`]:
    /// each image, the container's start and the services inside it as they
    /// first answered, provisioning, and when the first probe could go.
    pub fn ready_phases(&self) -> Vec<crate::run::Phase> {
        let mut phases: Vec<crate::run::Phase> = self
            .images
            .iter()
            .map(|i| crate::run::Phase {
                name: format!("image {} {}", i.image, if i.built { "built" } else { "reused" }),
                took: i.took,
            })
            .collect();
        let web = if self.web { "container start with the web side" } else { "container start" };
        phases.push(crate::run::Phase { name: web.into(), took: self.container_start });
        for (name, took) in &self.phases {
            phases.push(crate::run::Phase { name: format!("{name} answering"), took: *took });
        }
        phases.push(crate::run::Phase { name: "provisioning".into(), took: self.provisioning });
        if let Some(took) = self.hyperkitty_sync {
            phases.push(crate::run::Phase { name: "provisioning: HyperKitty's list sync".into(), took });
        }
        phases.push(crate::run::Phase { name: "first probe possible".into(), took: self.first_probe });
        phases
    }

    /// The container's start (with its phases) and provisioning times.
    pub fn summary_tail(&self) -> String {
        let web = if self.web { "with" } else { "without" };
        let phases = if self.phases.is_empty() {
            String::new()
        } else {
            let each: Vec<String> = self.phases.iter().map(|(name, at)| format!("{name} {:.1}s", at.as_secs_f64())).collect();
            format!("; inside: {}", each.join(", "))
        };
        let sync = self.hyperkitty_sync.map(|d| format!(" (HyperKitty's list sync {:.1}s of it)", d.as_secs_f64())).unwrap_or_default();
        format!(
            "container started in {:.1}s ({web} the web side{phases}), lists provisioned in {:.1}s{sync}, first probe at {:.1}s",
            self.container_start.as_secs_f64(),
            self.provisioning.as_secs_f64(),
            self.first_probe.as_secs_f64()
        )
    }
}

/// The line the lists image prints before [`READY_LINE`]: seconds from its
/// start script's start until each service answered.
const PHASES_LINE: &str = "mailflow-lists phases:";

/// The phases from the lists container's output (`name=1.23s` pairs).
fn parse_phases(output: &str) -> Vec<(String, Duration)> {
    let Some(line) = output.lines().rev().find_map(|l| l.trim().strip_prefix(PHASES_LINE)) else {
        return Vec::new();
    };
    line.split_whitespace()
        .filter_map(|pair| {
            let (name, secs) = pair.split_once('=')?;
            let secs: f64 = secs.strip_suffix('s')?.parse().ok()?;
            Some((name.to_string(), Duration::try_from_secs_f64(secs).ok()?))
        })
        .collect()
}

/// How to start the lists container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Also start the web side (mailman3-web: HyperKitty and Postorius under
    /// uwsgi behind nginx; `MAILFLOW_WEB=1`). It adds start-up time, so tests
    /// that do not read archives over HTTP leave it off.
    pub web: bool,
    /// Also open ssh into the lists container through a bastion container
    /// (sshd in both, a key pair made for the run, known_hosts written from
    /// their host keys): [`ContainersTarget::ssh_table`] then describes it
    /// as a hosts target's `[ssh]` table. Builds the bastion image once.
    pub ssh: bool,
}

impl StartOptions {
    /// Everything on, as `mailflow run` and the scenario trials use it.
    pub fn full() -> StartOptions {
        StartOptions { web: true, ssh: false }
    }

    /// [`StartOptions::full`], except that `MAILFLOW_WEB=0` in the harness's
    /// environment leaves the web side off (faster; HyperKitty and page steps
    /// are then skipped with the reason).
    pub fn from_env() -> StartOptions {
        StartOptions { web: std::env::var("MAILFLOW_WEB").map(|v| v.trim() != "0").unwrap_or(true), ssh: false }
    }
}

/// The Dovecot container (containers/imap) a target started for a target
/// file delivers the probe domain's mail into (see
/// [`ContainersTarget::start_for_target_file`]).
#[derive(Debug, Clone)]
pub struct ImapContainer {
    pub id: String,
    /// Its address on the run's network: IMAPS on 993, LMTP on 24.
    pub addr: IpAddr,
    /// Dovecot's throwaway CA (PEM), which signed its certificate for `addr`.
    pub ca_pem: String,
}

impl ImapContainer {
    /// The one login of the image's passwd-file (containers/imap/users).
    pub const USER: &'static str = "probe@probe.test";
    /// Its fixed password: a throwaway container on a test network.
    pub const PASSWORD: &'static str = "mailflow-imap-test";
}

/// What a target started for a target file adds: the IMAP mailbox and
/// Mailman's REST API exposed to this machine; and whether the target is
/// started aside ([`ContainersTarget::start_aside`]).
#[derive(Debug, Clone, Copy, Default)]
struct ForHosts {
    imap: bool,
    expose_rest: bool,
    aside: bool,
}

/// The lists container's CPU weight when started aside: an eighth of
/// Docker's default (1024).
const ASIDE_CPU_SHARES: i64 = 128;

/// A container of the run that reachability is checked from.
struct VantageContainer {
    name: &'static str,
    id: String,
    addr: IpAddr,
}

/// The running lists container, the vantage containers, the run's network
/// and the sink the lists container delivers to.
pub struct ContainersTarget {
    /// Taken out on shutdown; empty afterwards. The lists container first.
    containers: std::sync::Mutex<Vec<ContainerAsync<GenericImage>>>,
    container_id: String,
    container_ip: IpAddr,
    vantages: Vec<VantageContainer>,
    network: RunNetwork,
    /// Set once the network is removed.
    network_removed: std::sync::atomic::AtomicBool,
    probe_domain: String,
    sink: Sink,
    web: Option<Web>,
    /// The web server for `expect_http`; filled in once the container answers.
    http: Option<WebEndpoint>,
    /// Mailman's REST API through one long-lived `docker exec`.
    rest: RestRelay,
    /// Mailman's REST password in the lists container (random per container).
    rest_password: Secret,
    /// Whether the REST API is exposed to this machine (started for a
    /// target file); otherwise it stays on the container's loopback.
    rest_exposed: bool,
    /// The run's ssh key and known_hosts, with [`StartOptions::ssh`].
    ssh: Option<RunSsh>,
    /// The Dovecot mailbox, when started for a target file.
    imap: Option<ImapContainer>,
    /// Members' web sessions made for `expect_private`, by address.
    sessions: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Port probers by container id, for connection attempts from inside.
    probers: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<super::port_prober::PortProber>>>,
    /// The old host's SMTP addresses for `expect_old_host` ([`ContainersTarget::set_old_host`]).
    pub(super) old_smtp: Vec<SocketAddr>,
    pub report: StartReport,
}

/// Removes what a target that was never shut down left, e.g. after a panic
/// outside the tests' catch: containers first, then the network.
impl Drop for ContainersTarget {
    fn drop(&mut self) {
        if self.network_removed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut ids = vec![self.container_id.clone()];
        ids.extend(self.vantages.iter().map(|v| v.id.clone()));
        ids.extend(self.imap.iter().map(|i| i.id.clone()));
        let quiet = |args: &[&str]| {
            let _ = std::process::Command::new("docker")
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        let mut rm = vec!["rm", "-f"];
        rm.extend(ids.iter().map(String::as_str));
        quiet(&rm);
        quiet(&["network", "rm", &self.network.name]);
    }
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
        Self::start_inner(suite, options, ForHosts::default()).await
    }

    /// As [`ContainersTarget::start_with`], plus what a hosts target pointed
    /// at these containers needs (`mailflow up --write-target`): a Dovecot
    /// container on the run's network that exim also delivers the probe
    /// domain's mail into over LMTP (the sink still gets it), and Mailman's
    /// REST API exposed through nginx at `/mailman-rest/` to this machine's
    /// address on the run's network only. See
    /// [`crate::target::target_file`] for the file.
    pub async fn start_for_target_file(suite: &Suite, options: StartOptions) -> Result<ContainersTarget, TargetError> {
        Self::start_inner(suite, options, ForHosts { imap: true, expose_rest: true, aside: false }).await
    }

    /// As [`ContainersTarget::start_with`], for a second set of containers
    /// started beside the run's own (the scenarios with fault steps run
    /// there, so that the others need not wait for them): its lists
    /// container gets a low CPU weight (`--cpu-shares`), so that while both
    /// start, the run's own container's services come up first.
    pub async fn start_aside(suite: &Suite, options: StartOptions) -> Result<ContainersTarget, TargetError> {
        Self::start_inner(suite, options, ForHosts { aside: true, ..ForHosts::default() }).await
    }

    async fn start_inner(suite: &Suite, options: StartOptions, for_hosts: ForHosts) -> Result<ContainersTarget, TargetError> {
        ensure_daemon().await?;
        reap_stale_containers().await?;
        reap_stale_networks().await?;
        let base = ensure_base_image().await?;
        let lists = ensure_image("lists", &base.image).await?;
        let dns = ensure_image("dns", &base.image).await?;
        let mut images = vec![base.clone(), lists.clone(), dns.clone()];
        let ssh = if options.ssh {
            let bastion = ensure_image("bastion", &base.image).await?;
            images.push(bastion.clone());
            Some((RunSsh::make().await?, bastion.image))
        } else {
            None
        };
        let imap_image = if for_hosts.imap { Some(ensure_image("imap", &base.image).await?) } else { None };
        images.extend(imap_image.iter().cloned());
        let rest_password = Secret::new(random_password());

        let network = create_run_network().await?;
        let started = std::time::Instant::now();
        let launch = Launch {
            images: Images {
                base: &base.image,
                lists: &lists.image,
                dns: &dns.image,
                imap: imap_image.as_ref().map(|i| i.image.as_str()),
            },
            web: options.web,
            for_hosts,
            rest_password: rest_password.expose(),
            ssh: ssh.as_ref().map(|(keys, bastion_image)| SshLaunch { public_key: keys.public_key(), bastion_image }),
        };
        let containers = start_containers(suite, &network, launch).await;
        let (lists_container, vantages, dns_container, sink, imap) = match containers {
            Ok(c) => c,
            Err(e) => {
                // The containers that did start are removed on drop; the network then.
                let _ = remove_network(&network.name).await;
                return Err(e);
            }
        };

        let container_start = started.elapsed();
        let container_id = lists_container.id().to_string();
        let lists_id = container_id.clone();
        let mut all = vec![lists_container, dns_container];
        let imap = imap.map(|(info, c)| {
            all.push(c);
            info
        });
        let mut vantage_info = Vec::new();
        for (name, host, c) in vantages {
            vantage_info.push(VantageContainer { name, id: c.id().to_string(), addr: IpAddr::V4(network.addr(host)) });
            all.push(c);
        }
        let mut target = ContainersTarget {
            containers: std::sync::Mutex::new(all),
            container_ip: IpAddr::V4(network.addr(2)),
            container_id,
            vantages: vantage_info,
            network,
            network_removed: std::sync::atomic::AtomicBool::new(false),
            probe_domain: suite.probe_domain.clone(),
            sink,
            web: None,
            http: None,
            rest: RestRelay::new(lists_id.as_str()),
            rest_password,
            rest_exposed: for_hosts.expose_rest,
            ssh: ssh.map(|(keys, _)| keys),
            imap,
            sessions: Default::default(),
            probers: Default::default(),
            old_smtp: Vec::new(),
            report: StartReport {
                images,
                container_start,
                phases: Vec::new(),
                provisioning: Duration::ZERO,
                hyperkitty_sync: None,
                first_probe: Duration::ZERO,
                web: options.web,
                versions: Vec::new(),
            },
        };
        match address_on(&target.container_id, &target.network.name).await {
            Ok(ip) => {
                target.container_ip = ip;
                target.web = options.web.then(|| Web::new(&format!("http://{ip}")));
            }
            Err(e) => {
                let _ = target.shutdown().await;
                return Err(e);
            }
        }
        if let Err(e) = target.write_known_hosts().await {
            let _ = target.shutdown().await;
            return Err(e);
        }
        match target.web_endpoint().await {
            Ok(endpoint) => target.http = Some(endpoint),
            Err(e) => {
                let _ = target.shutdown().await;
                return Err(e);
            }
        }
        // Mailman's REST API answers: the lists are made while its runners
        // (and the web side) finish starting.
        let provisioning = std::time::Instant::now();
        let ready_within = LISTS_STARTUP_TIMEOUT.saturating_sub(started.elapsed());
        let (versions, ready) = tokio::join!(
            async {
                let v = target.provision(suite).await;
                (v, provisioning.elapsed())
            },
            wait_for_ready(&target.container_id, ready_within)
        );
        let versions = match (versions, ready) {
            ((Ok((v, sync)), took), Ok(at)) => {
                target.report.provisioning = took;
                target.report.hyperkitty_sync = sync;
                target.report.container_start = at.duration_since(started);
                v
            }
            ((Err(e), _), _) | (_, Err(e)) => {
                let _ = target.shutdown().await;
                return Err(e);
            }
        };
        // The phases are a report, not a condition: without them the start goes on.
        if let Ok(output) = super::docker::docker(&["logs", &target.container_id], Duration::from_secs(10)).await {
            target.report.phases = parse_phases(&output);
        }
        target.report.first_probe = started.elapsed();
        target.report.versions = versions;
        Ok(target)
    }

    /// Creates the suite's domains, then its lists, a few at a time: each
    /// call is a `docker exec` whose own cost (about 0.1 s) overlaps with
    /// the others', while Mailman's REST server (two gunicorn workers)
    /// sees no more than it serves at once.
    /// Returns Mailman's versions.
    async fn provision(&self, suite: &Suite) -> Result<(Vec<(String, String)>, Option<Duration>), TargetError> {
        use futures::{StreamExt as _, TryStreamExt as _};
        const AT_ONCE: usize = 3;
        let rest = MailmanRest::new(self);
        let versions = rest.versions().await?;
        let mut domains: Vec<&str> = suite.lists.iter().map(|l| l.domain.as_str()).collect();
        domains.sort_unstable();
        domains.dedup();
        for domain in domains {
            rest.ensure_domain(domain).await?;
        }
        let mut sync = None;
        let wants_sync = suite.lists.iter().any(|l| l.settings.get("archive_policy").is_some());
        let mut early_sync = if self.web.is_some() && wants_sync { self.start_sync_hyperkitty() } else { None };
        // Collected first: a lazy `map` closure kept inside this future
        // would make it not `Send` for every lifetime.
        let jobs: Vec<_> = suite.lists.iter().map(|list| provision_list(&rest, list)).collect();
        futures::stream::iter(jobs)
            .buffer_unordered(AT_ONCE)
            .try_collect::<Vec<()>>()
            .await?;
        // Which configuration keys exist is asked once, of any list: every
        // list has the same ones.
        if let Some(first) = suite.lists.iter().find(|l| !l.settings.values.is_empty() || !l.archivers.is_empty()) {
            let known = settings::config(self, &first.list_id()).await?;
            let jobs: Vec<_> = suite.lists.iter().map(|list| apply_settings(self, list, &known)).collect();
            futures::stream::iter(jobs)
                .buffer_unordered(AT_ONCE)
                .try_collect::<Vec<()>>()
                .await?;
            // HyperKitty learns a list's archive policy from Mailman only
            // when a task after its first archived post runs: until then a
            // new private list's first post is public. Production HyperKitty
            // has known its lists for long; make this one know them too.
            let policies: Vec<String> = suite.lists.iter().filter(|l| l.settings.get("archive_policy").is_some()).map(|l| l.address()).collect();
            if let (Some(early), false) = (early_sync.take(), policies.is_empty()) {
                let t0 = std::time::Instant::now();
                // Ahead or not, the same script; a failure ahead (the
                // database locked by an archiving) is tried again the usual way.
                if early.finish(&policies).await.is_err() {
                    self.sync_hyperkitty(&policies).await?;
                }
                sync = Some(t0.elapsed());
            }
        }
        let parsed: serde_json::Value = serde_json::from_str(&versions).unwrap_or_default();
        let versions = parsed
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).filter(|(k, _)| k != "self_link").collect())
            .unwrap_or_default();
        Ok((versions, sync))
    }

    /// nginx on 80 and 443, trusted through the image's own CA (read from
    /// the container), so that TLS verification stays on.
    async fn web_endpoint(&self) -> Result<WebEndpoint, TargetError> {
        let (code, pem, err) = self.exec(&["cat", WEB_CA]).await?;
        if code != 0 {
            return Err(TargetError::Start(format!("reading {WEB_CA} in the lists container: {}", err.trim())));
        }
        Ok(WebEndpoint {
            host: WEB_HOST.to_string(),
            addr: self.container_ip,
            http_port: 80,
            https_port: 443,
            tls: TlsTrust::Roots(pem),
        })
    }

    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    /// With [`StartOptions::ssh`]: the run's known_hosts file from the host
    /// keys the lists and bastion containers made at start.
    async fn write_known_hosts(&self) -> Result<(), TargetError> {
        let Some(keys) = &self.ssh else { return Ok(()) };
        let bastion = self.vantages.iter().find(|v| v.name == BASTION).expect("the bastion is started");
        let mut hosts = Vec::new();
        for (id, addr) in [(self.container_id.as_str(), self.container_ip), (bastion.id.as_str(), bastion.addr)] {
            let (code, key, err) = self.exec_in(id, &["cat", run_ssh::HOST_KEY_PUB]).await?;
            if code != 0 {
                return Err(TargetError::Start(format!("reading the ssh host key of {addr}: {}", err.trim())));
            }
            hosts.push((addr, key));
        }
        let hosts: Vec<(IpAddr, &str)> = hosts.iter().map(|(a, k)| (*a, k.as_str())).collect();
        keys.write_known_hosts(&hosts)
    }

    /// With [`StartOptions::ssh`]: the lists container as a hosts target's
    /// `[ssh]` table (the user `mailflow`, through the bastion container as
    /// ProxyJump, the run's key and known_hosts, strict host-key checking).
    pub fn ssh_table(&self) -> Option<SshConfig> {
        let bastion = self.vantages.iter().find(|v| v.name == BASTION)?;
        Some(self.ssh.as_ref()?.hosts_table(self.container_ip, bastion.addr))
    }

    /// Mailman's REST password in the lists container (user `restadmin`),
    /// for a target file written for these containers. Prints as `***`.
    pub fn rest_password(&self) -> &Secret {
        &self.rest_password
    }

    /// The Dovecot mailbox, when started for a target file.
    pub fn imap(&self) -> Option<&ImapContainer> {
        self.imap.as_ref()
    }

    /// Mailman's REST API as this machine reaches it directly (through the
    /// lists container's nginx) and its password, when started for a target
    /// file; `None` otherwise (the API then stays on the container's loopback).
    pub fn exposed_rest(&self) -> Option<(String, &Secret)> {
        self.rest_exposed.then(|| (format!("http://{}{REST_PATH}", self.container_ip), &self.rest_password))
    }

    pub fn container_ip(&self) -> IpAddr {
        self.container_ip
    }

    /// Runs a command in the container: exit code, stdout, stderr. Through
    /// `docker exec`, whose exit status is exact, unlike testcontainers' exec
    /// which reports it only some time after the streams end.
    pub async fn exec(&self, argv: &[&str]) -> Result<(i64, String, String), TargetError> {
        self.exec_in(&self.container_id, argv).await
    }

    /// Runs a command in one of the run's containers (lists or vantage).
    async fn exec_in(&self, id: &str, argv: &[&str]) -> Result<(i64, String, String), TargetError> {
        self.exec_in_within(id, argv, EXEC_TIMEOUT).await
    }

    /// [`Self::exec`] with its own deadline, for commands that wait on a
    /// service (Mailman's start took over a minute on a busy machine).
    pub async fn exec_within(&self, argv: &[&str], timeout: Duration) -> Result<(i64, String, String), TargetError> {
        self.exec_in_within(&self.container_id, argv, timeout).await
    }

    async fn exec_in_within(&self, id: &str, argv: &[&str], timeout: Duration) -> Result<(i64, String, String), TargetError> {
        if self.containers.lock().map(|c| c.is_empty()).unwrap_or(true) {
            return Err(TargetError::Exec("the containers were removed".into()));
        }
        let mut cmd = tokio::process::Command::new("docker");
        cmd.arg("exec").arg(id).args(argv).stdin(std::process::Stdio::null()).kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| TargetError::Timeout { what: format!("`{}` in the container", argv.join(" ")), after: timeout })?
            .map_err(|e| TargetError::Exec(format!("cannot run docker exec: {e}")))?;
        let code = out.status.code().map(i64::from).unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    /// The sink the probe domain's mail goes to.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// The run's Docker network (name, addresses).
    pub fn network(&self) -> &RunNetwork {
        &self.network
    }

    /// Stops and removes the containers, then the run's network. Also done
    /// on drop, but an explicit call reports errors and does not depend on a
    /// runtime at drop time.
    pub async fn shutdown(&self) -> Result<(), TargetError> {
        // Their `docker exec`s end with their containers; ended first, so that
        // none is left reading from a container being removed.
        if let Ok(mut p) = self.probers.lock() {
            p.clear();
        }
        let taken: Vec<_> = self.containers.lock().map(|mut c| c.drain(..).collect()).unwrap_or_default();
        let mut errors = Vec::new();
        for c in taken {
            let id = c.id().to_string();
            if let Err(e) = c.rm().await {
                errors.push(format!("removing {id}: {e}"));
            }
        }
        if !self.network_removed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            if let Err(e) = remove_network(&self.network.name).await {
                errors.push(format!("removing network {}: {e}", self.network.name));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Docker(errors.join("; ")))
        }
    }

    /// Tries a port with bash's /dev/tcp from inside a container.
    async fn try_port_by_exec(&self, id: &str, ip: IpAddr, port: u16, deadline: Duration) -> Result<reach::Attempt, TargetError> {
        let prober = self.probers.lock().ok().map(|mut p| p.entry(id.to_string()).or_insert_with(|| std::sync::Arc::new(super::port_prober::PortProber::new(id))).clone());
        if let Some(prober) = prober {
            if let Ok(tried) = prober.try_port(ip, port, deadline).await {
                return tried.map_err(TargetError::Exec);
            }
        }
        let argv = reach::tcp_probe_command(ip, port, deadline);
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        let (code, _out, err) = self.exec_in(id, &args).await?;
        let took = started.elapsed();
        let state = reach::state_from_exec(code, &err).map_err(TargetError::Exec)?;
        Ok(reach::Attempt { state, took })
    }
}

/// One list with its members and settings (an `async fn` rather than a
/// closure, so that the provisioning future stays `Send` for any lifetime).
async fn provision_list(rest: &MailmanRest<'_, ContainersTarget>, list: &crate::scenario::ListDecl) -> Result<(), TargetError> {
    rest.ensure_list(&list.address()).await?;
    for m in &list.members {
        rest.ensure_member(&list.list_id(), m).await?;
    }
    for (role, addresses) in [("owner", &list.owners), ("moderator", &list.moderators)] {
        for address in addresses {
            rest.ensure_role(&list.list_id(), address, role).await?;
        }
    }
    Ok(rest.apply_member_moderation(list).await?)
}

/// A list's `[list.settings]` and `archivers`; a key or value Mailman
/// refuses is an error at the suite file's line.
async fn apply_settings(target: &ContainersTarget, list: &crate::scenario::ListDecl, known: &settings::Config) -> Result<(), TargetError> {
    // Without the web side Mailman is configured with no HyperKitty archiver
    // (start.sh adds it with the web side), and the steps that read
    // HyperKitty are skipped for want of a web side: a list's wish for it is
    // left out rather than refused.
    let without_web;
    let list = if target.web.is_none() && list.archivers.iter().any(|a| a.key == "hyperkitty") {
        let mut l = list.clone();
        l.archivers.retain(|a| a.key != "hyperkitty");
        without_web = l;
        &without_web
    } else {
        list
    };
    settings::apply(target, list, known).await.map_err(|e| match e {
        settings::SettingsError::Rest(e) => TargetError::Rest(e),
        refused => TargetError::Suite(refused.to_string()),
    })
}

impl RestTransport for ContainersTarget {
    fn call<'a>(&'a self, method: &'a str, path: &'a str, form: &'a [(&'a str, String)]) -> BoxFuture<'a, Result<RestResponse, RestError>> {
        Box::pin(async move {
            match self.rest.call(method, path, form).await {
                Ok(response) => return Ok(response),
                Err(RelayError::Failed(message)) => {
                    return Err(RestError { method: method.into(), path: path.into(), message });
                }
                Err(RelayError::Unavailable) => {}
            }
            // Without the relay: one `docker exec` per call. The credentials
            // come from the container's environment inside the shell and
            // reach curl on stdin: never in argv here or in output.
            let script = r#"m="$1"; shift; printf 'user = "restadmin:%s"\n' "$MAILFLOW_REST_PASSWORD" | curl -sS --max-time 20 -K - -w '\n%{http_code}' -X "$m" "$@""#;
            let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), script.into(), "sh".into(), method.into()];
            for (k, v) in form {
                argv.push("--data-urlencode".into());
                argv.push(format!("{k}={v}"));
            }
            argv.push(format!("http://127.0.0.1:8001{path}"));
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let failed = |message: String| RestError { method: method.into(), path: path.into(), message };
            let (code, out, err) = self.exec(&args).await.map_err(|e| failed(e.to_string()))?;
            if code != 0 {
                return Err(failed(format!("curl exit {code}: {}", err.trim())));
            }
            let (body, status) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
            let status = status.trim().parse().map_err(|_| failed(format!("no HTTP status in curl output {out:?}")))?;
            Ok(RestResponse { status, body: body.to_string() })
        })
    }
}

impl Target for ContainersTarget {
    fn describe(&self) -> String {
        format!(
            "containers (lists container {} at {} on network {})",
            &self.container_id[..12.min(self.container_id.len())],
            self.container_ip,
            self.network.name
        )
    }

    fn probe_domain(&self) -> &str {
        &self.probe_domain
    }

    fn smtp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.container_ip, 25)
    }

    fn mailbox(&self) -> Option<&dyn Mailbox> {
        Some(&self.sink)
    }

    fn prototype_archive(&self) -> Option<&dyn PrototypeArchive> {
        Some(self)
    }

    fn held_queue(&self) -> Option<&dyn HeldQueue> {
        Some(self)
    }

    fn mta_log(&self) -> Option<&dyn MtaLog> {
        Some(self)
    }

    fn mailman_queues(&self) -> Option<&dyn MailmanQueues> {
        Some(self)
    }

    fn shell(&self) -> Option<&dyn Shell> {
        Some(self)
    }

    fn reachability(&self) -> Option<&dyn Reachability> {
        Some(self)
    }

    fn web(&self) -> Option<&Web> {
        self.web.as_ref()
    }

    fn dns_server(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(IpAddr::V4(self.network.addr(DNS_HOST)), 53))
    }

    fn http_endpoint(&self) -> Option<&WebEndpoint> {
        self.http.as_ref()
    }

    fn may_send_digests(&self) -> bool {
        true
    }

    fn list_index(&self) -> Option<&dyn crate::target::ListIndex> {
        Some(self)
    }
    fn mailman_rest(&self) -> Option<&dyn crate::mailman::RestTransport> {
        Some(self)
    }

    fn web_session<'a>(&'a self, address: &'a str) -> Option<BoxFuture<'a, Result<String, TargetError>>> {
        self.web.as_ref()?;
        Some(Box::pin(async move { self.member_session(address).await }))
    }

    fn faults(&self) -> Option<&dyn super::Faults> {
        Some(self)
    }

    fn mta_queue(&self) -> Option<&dyn super::MtaQueue> {
        Some(self)
    }

    fn cutover(&self) -> Option<&dyn super::cutover::Cutover> {
        Some(self)
    }
}

/// Creates (or finds) the Django account of a list member, with its address
/// verified, and a session for it, as HyperKitty's login would; prints the
/// session cookie. The address comes in the environment, never in the code.
const SESSION_SCRIPT: &str = r#"
import os
from importlib import import_module
from django.conf import settings
from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from allauth.account.models import EmailAddress
a = os.environ["MAILFLOW_MEMBER"]
u, _ = get_user_model().objects.get_or_create(username=a[:150], defaults={"email": a})
u.email = a
u.set_unusable_password()
u.save()
EmailAddress.objects.update_or_create(user=u, email=a, defaults={"verified": True, "primary": True})
s = import_module(settings.SESSION_ENGINE).SessionStore()
s[SESSION_KEY] = str(u.pk)
s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
s[HASH_SESSION_KEY] = u.get_session_auth_hash()
s.create()
print("mailflow-session %s=%s" % (settings.SESSION_COOKIE_NAME, s.session_key))
"#;

/// [`SYNC_SCRIPT`] started before the lists exist, waiting for their
/// addresses on stdin. Dropped unfinished, its `docker exec` is killed.
struct EarlySync {
    child: tokio::process::Child,
}

impl EarlySync {
    /// Gives the script the lists' addresses and waits for it (at most
    /// [`EXEC_TIMEOUT`]); an error carries the exception's last line.
    async fn finish(mut self, list_addresses: &[String]) -> Result<(), String> {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = self.child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(format!("{}\n", list_addresses.join(":")).as_bytes()).await.map_err(|e| e.to_string())?;
        drop(stdin);
        let out = tokio::time::timeout(EXEC_TIMEOUT, self.child.wait_with_output()).await.map_err(|_| "timed out".to_string())?.map_err(|e| e.to_string())?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("mailflow-synced") {
            Ok(())
        } else {
            Err(python_failure(&String::from_utf8_lossy(&out.stderr)))
        }
    }
}

/// How many times [`ContainersTarget::django_shell`] tries a script that
/// met SQLite's "database is locked".
const DJANGO_LOCKED_TRIES: u32 = 5;

/// What a failed Python command says, briefly: the exception line ending a
/// traceback (`django.db.utils.OperationalError: database is locked`),
/// otherwise its whole trimmed stderr.
fn python_failure(stderr: &str) -> String {
    match stderr.rfind("Traceback (most recent call last):") {
        Some(at) => stderr[at..].lines().rev().find(|l| !l.trim().is_empty() && !l.starts_with(' ')).unwrap_or("").trim().to_string(),
        None => stderr.trim().to_string(),
    }
}

/// Creates HyperKitty's record of each list (in `MAILFLOW_LISTS`, by
/// address, `:`-separated; `-` reads that line from stdin, so that Django
/// can load while the lists are still being made) and copies its settings
/// (archive policy, ...) from Mailman, as HyperKitty's own task does after
/// each archived post.
const SYNC_SCRIPT: &str = r#"
import os, sys
from hyperkitty.models import MailingList
names = os.environ["MAILFLOW_LISTS"]
if names == "-":
    names = sys.stdin.readline().strip()
for name in names.split(":"):
    MailingList.objects.get_or_create(name=name)[0].update_from_mailman()
print("mailflow-synced")
"#;

/// [`ContainersTarget::seed_prototype_archive`]'s writer: `$1` the maildir,
/// `$2` the Date, `$3` the month, `$4` how many, `$5` the list, `$6` the
/// probe domain. Written to `tmp/` and moved into `new/`, as maildir wants.
const SEED_SCRIPT: &str = r#"set -e; umask 077; d="$1"; mkdir -p "$d/tmp" "$d/new" "$d/cur"; i=0
while [ "$i" -lt "$4" ]; do
  i=$((i + 1)); f="$(date +%s).mailflow-seed-$3-$i-$$"
  printf 'From: seed@%s\nTo: %s\nSubject: archive seed %s #%s\nDate: %s\nMessage-ID: <seed-%s-%s-%s@%s>\n\nseeded\n' \
    "$6" "$5" "$3" "$i" "$2" "$3" "$i" "$$" "$6" > "$d/tmp/$f"
  mv "$d/tmp/$f" "$d/new/$f"
done"#;

impl ContainersTarget {
    /// Makes HyperKitty read the lists' settings from Mailman now (see
    /// [`SYNC_SCRIPT`]), instead of after their next archived post.
    pub async fn sync_hyperkitty(&self, list_addresses: &[String]) -> Result<(), TargetError> {
        let env = format!("MAILFLOW_LISTS={}", list_addresses.join(":"));
        self.django_shell(&env, SYNC_SCRIPT, "mailflow-synced", "updating HyperKitty's lists from Mailman").await?;
        Ok(())
    }

    /// [`Self::sync_hyperkitty`] started ahead: the Django shell loads (about
    /// 1 s of CPU) while the caller makes the lists, and syncs once it is
    /// given their addresses through [`EarlySync::finish`].
    fn start_sync_hyperkitty(&self) -> Option<EarlySync> {
        let argv = ["exec", "-i", self.container_id.as_str(), "env", "MAILFLOW_LISTS=-", "runuser", "-u", "www-data", "--", "python3", "/usr/share/mailman3-web/manage.py", "shell", "-c", SYNC_SCRIPT];
        let child = tokio::process::Command::new("docker")
            .args(argv)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        Some(EarlySync { child })
    }

    /// Runs a script in the web side's Django shell (as `www-data`, with one
    /// `NAME=value` in its environment) and returns its stdout, which must
    /// contain `done_marker`. The web side's database is SQLite: a write that
    /// meets HyperKitty archiving at the same moment fails at once with
    /// "database is locked" (Django opens deferred transactions, so SQLite's
    /// busy timeout does not apply; seen in CI). Such a failure is retried,
    /// up to [`DJANGO_LOCKED_TRIES`] times, 0.3 s apart and growing.
    /// Errors: the exception's last line (not the whole traceback) with `what`.
    async fn django_shell(&self, env: &str, script: &str, done_marker: &str, what: &str) -> Result<String, TargetError> {
        let argv = ["env", env, "runuser", "-u", "www-data", "--", "python3", "/usr/share/mailman3-web/manage.py", "shell", "-c", script];
        let mut tries = 0;
        loop {
            tries += 1;
            let (code, out, err) = self.exec(&argv).await?;
            if code == 0 && out.contains(done_marker) {
                return Ok(out);
            }
            if tries < DJANGO_LOCKED_TRIES && err.contains("database is locked") {
                tokio::time::sleep(Duration::from_millis(300 * tries as u64)).await;
                continue;
            }
            let retried = if tries > 1 { format!(" (after {tries} tries)") } else { String::new() };
            return Err(TargetError::Exec(format!("{what} (Django shell): exit {code}{retried}: {}", python_failure(&err))));
        }
    }

    /// Puts `count` messages dated in `month` (`YYYY-MM`, the 15th at noon
    /// UTC) into the list's prototype archive (`<var>/archives/prototype/
    /// <list address>/new/`, written as `list`, as the archiver would), so
    /// that a container can play a host with an archive history: the
    /// inventory counts them by their `Date:`. Each has its own Message-ID
    /// under the probe domain; nothing goes through exim or Mailman.
    pub async fn seed_prototype_archive(&self, list_address: &str, month: &str, count: u32) -> Result<(), TargetError> {
        let bad = || TargetError::Exec(format!("seeding the archive of {list_address}: month `{month}` is not YYYY-MM"));
        let (year, mon) = month.split_once('-').ok_or_else(bad)?;
        let (year, mon): (i16, i8) = (year.parse().map_err(|_| bad())?, mon.parse().map_err(|_| bad())?);
        let date = jiff::civil::Date::new(year, mon, 15).map_err(|_| bad())?.at(12, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| bad())?;
        let date = date.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string();
        let dir = format!("{}/archives/prototype/{list_address}", LISTS_PATHS.mailman_var_dir);
        let count = count.to_string();
        let argv = ["runuser", "-u", "list", "--", "sh", "-c", SEED_SCRIPT, "sh", &dir, &date, month, &count, list_address, &self.probe_domain];
        let (code, _out, err) = self.exec(&argv).await?;
        if code != 0 {
            return Err(TargetError::Exec(format!("seeding the archive of {list_address}: exit {code}: {}", err.trim())));
        }
        Ok(())
    }

    /// A member's web session (see [`SESSION_SCRIPT`]), made once per
    /// address and kept for the run.
    async fn member_session(&self, address: &str) -> Result<String, TargetError> {
        if let Some(cookie) = self.sessions.lock().ok().and_then(|s| s.get(address).cloned()) {
            return Ok(cookie);
        }
        let env = format!("MAILFLOW_MEMBER={address}");
        let what = format!("creating the web account of {address}");
        let out = self.django_shell(&env, SESSION_SCRIPT, "mailflow-session ", &what).await?;
        let cookie = out.lines().find_map(|l| l.strip_prefix("mailflow-session ")).map(str::to_string);
        let cookie = cookie.ok_or_else(|| TargetError::Exec(format!("{what} (Django shell): no session printed")))?;
        if let Ok(mut s) = self.sessions.lock() {
            s.insert(address.to_string(), cookie.clone());
        }
        Ok(cookie)
    }
}

impl PrototypeArchive for ContainersTarget {
    fn find<'a>(&'a self, list_address: &'a str, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<Option<ArchivedCopy>, TargetError>> {
        Box::pin(through_shell::prototype_find(self, &LISTS_PATHS, list_address, keys))
    }
}

impl HeldQueue for ContainersTarget {
    fn held<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<Vec<HeldMessage>, TargetError>> {
        Box::pin(async move { Ok(MailmanRest::new(self).held(list_id).await?) })
    }

    fn moderate<'a>(&'a self, held: &'a OwnHeld, decision: &'a Decision) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move { Ok(MailmanRest::new(self).moderate(held, decision).await?) })
    }
}

impl MailmanQueues for ContainersTarget {
    fn find<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<MailmanQueueFacts, TargetError>> {
        Box::pin(through_shell::mailman_queues(self, &LISTS_PATHS, keys))
    }

    fn archiver_failures<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<ArchiverFacts, TargetError>> {
        Box::pin(through_shell::archiver_failures(self, &LISTS_PATHS, keys))
    }

    fn list_archiving<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListArchiving, TargetError>> {
        Box::pin(async move {
            let (archivers, policy) = MailmanRest::new(self).archiving(list_id).await?;
            Ok(ListArchiving { archivers, policy })
        })
    }

    fn archive_queue_empty(&self) -> BoxFuture<'_, Result<Option<bool>, TargetError>> {
        Box::pin(async move { through_shell::archive_queue_empty(self, &LISTS_PATHS).await.map(Some) })
    }
}

impl MtaLog for ContainersTarget {
    /// exim's `exigrep` on the container's mainlog: only the lines of the
    /// probe's messages and their bounces leave the container
    /// ([`through_shell::mta_trace`]).
    fn trace<'a>(&'a self, keys: &'a ProbeKeys) -> BoxFuture<'a, Result<exim::Trace, TargetError>> {
        Box::pin(through_shell::mta_trace(self, &LISTS_PATHS, keys))
    }
}

impl Shell for ContainersTarget {
    fn exec<'a>(&'a self, argv: &'a [&'a str]) -> BoxFuture<'a, Result<(i64, String, String), TargetError>> {
        Box::pin(async move { ContainersTarget::exec(self, argv).await })
    }
}

impl Reachability for ContainersTarget {
    fn vantages(&self) -> Vec<String> {
        let mut names = vec![OUTSIDE.to_string(), INSIDE.to_string()];
        names.extend(self.vantages.iter().map(|v| v.name.to_string()));
        names
    }

    fn try_port<'a>(&'a self, vantage: &'a str, protocol: Protocol, port: u16, deadline: Duration) -> BoxFuture<'a, Result<PortAttempt, TargetError>> {
        Box::pin(async move {
            match protocol {
                Protocol::Tcp => {}
            }
            let lists = SocketAddr::new(self.container_ip, port);
            if vantage == OUTSIDE {
                let attempt = reach::tcp_from_here(lists, deadline)
                    .await
                    .map_err(|e| TargetError::Exec(format!("connecting to {lists} from here: {e}")))?;
                return Ok(PortAttempt { attempt, addr: lists });
            }
            if vantage == INSIDE {
                let loopback = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
                let attempt = self.try_port_by_exec(&self.container_id, loopback, port, deadline).await?;
                return Ok(PortAttempt { attempt, addr: SocketAddr::new(loopback, port) });
            }
            let Some(v) = self.vantages.iter().find(|v| v.name == vantage) else {
                return Err(TargetError::NoVantage { wanted: vantage.to_string(), offered: self.vantages().join(", ") });
            };
            let attempt = self.try_port_by_exec(&v.id, self.container_ip, port, deadline).await.map_err(|e| match e {
                TargetError::Exec(m) => TargetError::Exec(format!("from the {} container ({}): {m}", v.name, v.addr)),
                other => other,
            })?;
            Ok(PortAttempt { attempt, addr: lists })
        })
    }
}

type Started = (
    ContainerAsync<GenericImage>,
    Vec<(&'static str, u8, ContainerAsync<GenericImage>)>,
    ContainerAsync<GenericImage>,
    Sink,
    Option<(ImapContainer, ContainerAsync<GenericImage>)>,
);

/// The images a run starts.
struct Images<'a> {
    base: &'a str,
    lists: &'a str,
    dns: &'a str,
    /// Only when started for a target file.
    imap: Option<&'a str>,
}

/// Starts the Dovecot container straight on the run's network (its start
/// script makes a certificate for the addresses it has then) and reads its
/// address and CA.
async fn start_imap(network: &RunNetwork, image: &str) -> Result<(ImapContainer, ContainerAsync<GenericImage>), TargetError> {
    let (repo, tag) = split_image(image);
    let c = GenericImage::new(repo, tag)
        .with_wait_for(WaitFor::message_on_stderr("starting up for imap"))
        .with_label(OWNER_LABEL, std::process::id().to_string())
        .with_network(network.name.clone())
        .with_host_config_modifier(|hc| hc.publish_all_ports = Some(false))
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .map_err(|e| TargetError::Start(format!("the Dovecot container: {e}")))?;
    let addr = address_on(c.id(), &network.name).await?;
    let ca_pem = super::docker::docker(&["exec", c.id(), "cat", IMAP_CA], Duration::from_secs(20)).await?;
    Ok((ImapContainer { id: c.id().to_string(), addr, ca_pem }, c))
}

/// Binds the sink on the network's gateway, starts the vantage containers
/// (with their fixed addresses) and the lists container, which is told those
/// addresses for its firewall.
async fn start_containers(
    suite: &Suite,
    network: &RunNetwork,
    launch: Launch<'_>,
) -> Result<Started, TargetError> {
    let (base_image, lists_image, dns_image) = (launch.images.base, launch.images.lists, launch.images.dns);
    // Dovecot first: exim is told its address at start.
    let imap = match launch.images.imap {
        Some(image) => Some(start_imap(network, image).await?),
        None => None,
    };
    let gateway = IpAddr::V4(network.gateway());
    let options = SinkOptions { probe_domain: Some(suite.probe_domain.clone()), ..SinkOptions::default() };
    let sink = Sink::bind_with(SocketAddr::new(gateway, 0), options)
        .await
        .map_err(|e| TargetError::Start(format!("cannot bind the sink on the run network's gateway {gateway}: {e}")))?;

    let mut domains: Vec<&str> = suite.lists.iter().map(|l| l.domain.as_str()).collect();
    domains.dedup();
    let (repo, tag) = lists_image.split_once(':').expect("tagged image");
    let aside = launch.for_hosts.aside;
    let dns_addr = network.addr(DNS_HOST).to_string();
    let mut lists = GenericImage::new(repo, tag)
        .with_wait_for(WaitFor::message_on_stdout(REST_LINE))
        .with_env_var("MAILFLOW_SINK_HOST", gateway.to_string())
        .with_env_var("MAILFLOW_SINK_PORT", sink.addr().port().to_string())
        .with_env_var("MAILFLOW_PROBE_DOMAIN", suite.probe_domain.clone())
        .with_env_var("MAILFLOW_LIST_DOMAINS", domains.join(":"))
        .with_env_var("MAILFLOW_REST_PASSWORD", launch.rest_password)
        .with_env_var("MAILFLOW_OLD_HOST_ADDR", network.addr(OLD_HOST_HOST).to_string())
        .with_env_var("MAILFLOW_BASTION_ADDR", network.addr(BASTION_HOST).to_string())
        .with_env_var("MAILFLOW_WEB", if launch.web { "1" } else { "0" })
        .with_env_var("MAILFLOW_MAILBOX_HOST", imap.as_ref().map(|(i, _)| i.addr.to_string()).unwrap_or_default())
        .with_env_var("MAILFLOW_REST_EXPOSE_TO", if launch.for_hosts.expose_rest { gateway.to_string() } else { String::new() })
        .with_label(OWNER_LABEL, std::process::id().to_string())
        .with_network(network.name.clone())
        // The run's DNS container is the lists host's only DNS server: its
        // lookups (Mailman's DMARC policy checks) stay on the run's network.
        .with_host_config_modifier(move |hc| {
            hc.dns = Some(vec![dns_addr.clone()]);
            // Docker's default weight is 1024.
            if aside {
                hc.cpu_shares = Some(ASIDE_CPU_SHARES);
            }
        })
        .with_cap_add("NET_ADMIN")
        // Lets the start script lower, then restore, the priority of the
        // runners the first probe does not need (containers/lists/start.sh).
        .with_cap_add("SYS_NICE")
        .with_startup_timeout(LISTS_STARTUP_TIMEOUT);
    if let Some(ssh) = &launch.ssh {
        lists = lists.with_env_var("MAILFLOW_SSH_AUTHORIZED_KEY", ssh.public_key);
    }
    let lists = lists.start();
    // The helpers start together, beside the lists container.
    let vantage = |name: &'static str, host: u8| async move {
        let image = GenericImage::new(split_image(base_image).0, split_image(base_image).1).with_cmd(["sleep", "infinity"]);
        Ok::<_, TargetError>((name, host, start_at(network, image, host).await?))
    };
    // With ssh the bastion is a real one (sshd), still a vantage point.
    let bastion = async {
        let Some(ssh) = &launch.ssh else { return vantage(BASTION, BASTION_HOST).await };
        let (repo, tag) = split_image(ssh.bastion_image);
        let image = GenericImage::new(repo, tag)
            .with_wait_for(WaitFor::message_on_stderr("Server listening on"))
            .with_env_var("MAILFLOW_SSH_AUTHORIZED_KEY", ssh.public_key);
        Ok((BASTION, BASTION_HOST, start_at(network, image, BASTION_HOST).await?))
    };
    let others = async {
        let (repo, tag) = split_image(dns_image);
        let dns = GenericImage::new(repo, tag).with_wait_for(WaitFor::message_on_stderr("nsd started"));
        let (old_host, bastion, dns) =
            tokio::join!(vantage(OLD_HOST, OLD_HOST_HOST), bastion, start_at(network, dns, DNS_HOST));
        Ok::<_, TargetError>((vec![old_host?, bastion?], dns?))
    };
    let (lists, others) = tokio::join!(lists, others);
    let lists = lists.map_err(|e| TargetError::Start(e.to_string()))?;
    let (vantages, dns) = others?;
    Ok((lists, vantages, dns, sink, imap))
}

/// Follows the lists container's output until [`READY_LINE`]: when it
/// appeared. The container stopping first (its start script gave up) or
/// `within` passing is an error with the last lines it printed.
async fn wait_for_ready(container_id: &str, within: Duration) -> Result<std::time::Instant, TargetError> {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new("docker")
        .args(["logs", "--follow", container_id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TargetError::Start(format!("cannot run docker logs: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut last: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let follow = async {
        while let Some(line) = lines.next_line().await.map_err(|e| TargetError::Start(format!("reading the lists container's output: {e}")))? {
            if line.trim_end() == READY_LINE {
                return Ok(std::time::Instant::now());
            }
            if last.len() == 10 {
                last.pop_front();
            }
            last.push_back(line);
        }
        Err(TargetError::Start(format!(
            "the lists container stopped before it was ready; its last lines: {}",
            last.iter().map(String::as_str).collect::<Vec<_>>().join(" | ")
        )))
    };
    tokio::time::timeout(within, follow)
        .await
        .map_err(|_| TargetError::Timeout { what: "the lists container to be ready".into(), after: within })?
}

/// What the lists container (and, with ssh, the bastion) is started with.
struct Launch<'a> {
    images: Images<'a>,
    web: bool,
    /// What a hosts target pointed at these containers needs.
    for_hosts: ForHosts,
    rest_password: &'a str,
    ssh: Option<SshLaunch<'a>>,
}

/// The run's public key and the bastion image to start.
struct SshLaunch<'a> {
    public_key: &'a str,
    bastion_image: &'a str,
}

fn split_image(image: &str) -> (&str, &str) {
    image.split_once(':').unwrap_or((image, "latest"))
}

/// Starts a helper container (a vantage point, the DNS server) and gives it
/// the fixed address `.host` on the run's network. testcontainers starts it
/// on the default bridge (so its watchdog removes it like the others);
/// `docker network connect` then adds the fixed address, which
/// testcontainers cannot set.
async fn start_at(network: &RunNetwork, image: impl Into<testcontainers::ContainerRequest<GenericImage>>, host: u8) -> Result<ContainerAsync<GenericImage>, TargetError> {
    let request: testcontainers::ContainerRequest<GenericImage> = image.into();
    let c = request
        .with_label(OWNER_LABEL, std::process::id().to_string())
        // Nothing is published on the host's interfaces (see the lists container).
        .with_host_config_modifier(|hc| hc.publish_all_ports = Some(false))
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .map_err(|e| TargetError::Start(format!("helper container for .{host}: {e}")))?;
    let ip = network.addr(host).to_string();
    super::docker::docker(&["network", "connect", "--ip", &ip, &network.name, c.id()], Duration::from_secs(30)).await?;
    Ok(c)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_from_the_containers_output() {
        let output = "mailflow-lists: starting exim (exim4 -bd -q5s)\n\
                      mailflow-lists phases: exim=0.81s rest=6.90s lmtp=7.02s runners=7.30s web=8.41s\n\
                      mailflow-lists ready\n";
        let phases = parse_phases(output);
        let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["exim", "rest", "lmtp", "runners", "web"]);
        assert_eq!(phases[1].1, Duration::from_millis(6900));
        assert!(parse_phases("mailflow-lists ready\n").is_empty());
        // A malformed pair is left out, the others kept.
        assert_eq!(parse_phases("mailflow-lists phases: exim=x rest=1.5s\n"), [("rest".to_string(), Duration::from_millis(1500))]);

        let report = StartReport {
            images: Vec::new(),
            container_start: Duration::from_millis(9_100),
            phases,
            provisioning: Duration::from_millis(1_200),
            hyperkitty_sync: Some(Duration::from_millis(700)),
            first_probe: Duration::from_millis(10_400),
            web: true,
            versions: Vec::new(),
        };
        assert_eq!(
            report.summary_tail(),
            "container started in 9.1s (with the web side; inside: exim 0.8s, rest 6.9s, lmtp 7.0s, runners 7.3s, web 8.4s), \
             lists provisioned in 1.2s (HyperKitty's list sync 0.7s of it), first probe at 10.4s"
        );
    }

    /// Hand-made from the stderr CI printed when a member's web account met
    /// SQLite's lock (django_q's warning first, then chained tracebacks).
    #[test]
    fn python_failure_names_the_last_exception() {
        let stderr = "/usr/lib/python3/dist-packages/django_q/conf.py:139: UserWarning: Retry and timeout are misconfigured.\n  warn(\n\
Traceback (most recent call last):\n  File \"query.py\", line 581, in get_or_create\n    return self.get(**kwargs), False\n\
allauth.account.models.EmailAddress.DoesNotExist: EmailAddress matching query does not exist.\n\n\
During handling of the above exception, another exception occurred:\n\n\
Traceback (most recent call last):\n  File \"utils.py\", line 84, in _execute\n    return self.cursor.execute(sql, params)\n\
sqlite3.OperationalError: database is locked\n\n\
The above exception was the direct cause of the following exception:\n\n\
Traceback (most recent call last):\n  File \"<string>\", line 12, in <module>\n\
django.db.utils.OperationalError: database is locked\n";
        assert_eq!(python_failure(stderr), "django.db.utils.OperationalError: database is locked");
        assert_eq!(python_failure("  plain failure \n"), "plain failure");
    }
}
