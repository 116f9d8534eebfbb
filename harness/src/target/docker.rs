//! The few Docker operations testcontainers does not cover: image builds and
//! imports, network facts, and removing what a killed run left behind.
//! They go through the `docker` CLI, which is on every machine that runs Docker.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::TargetError;

/// Label on every container the harness starts: the owning process id, so a
/// later run can remove containers of runs that were killed.
pub const OWNER_LABEL: &str = "org.mailflow.owner-pid";

/// Runs `docker ARGS`, returns stdout; fails with stderr in the message.
pub async fn docker(args: &[&str], timeout: Duration) -> Result<String, TargetError> {
    let mut cmd = Command::new("docker");
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| TargetError::Timeout { what: format!("docker {}", args.join(" ")), after: timeout })?
        .map_err(|e| TargetError::Docker(format!("cannot run the docker CLI: {e}")))?;
    if !out.status.success() {
        return Err(TargetError::Docker(format!(
            "docker {} failed: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails with a hint when the daemon is not reachable.
pub async fn ensure_daemon() -> Result<(), TargetError> {
    docker(&["info", "--format", "{{.ServerVersion}}"], Duration::from_secs(20)).await.map(|_| ()).map_err(|e| {
        TargetError::Docker(format!("the Docker daemon is not reachable ({e}); start dockerd or run .ci/run, which does"))
    })
}

pub async fn image_exists(name: &str) -> bool {
    docker(&["image", "inspect", "--format", "{{.Id}}", name], Duration::from_secs(20)).await.is_ok()
}

/// The gateway address of a Docker network: where containers on it reach the host.
/// Docker does not always record the default bridge's gateway; it is then the
/// subnet's first address, which is what dockerd gives the bridge.
pub async fn network_gateway(network: &str) -> Result<std::net::IpAddr, TargetError> {
    let out = docker(
        &["network", "inspect", network, "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}"],
        Duration::from_secs(20),
    )
    .await?;
    gateway_from_ipam(&out)
        .map(std::net::IpAddr::V4)
        .ok_or_else(|| TargetError::Docker(format!("network {network} has no IPv4 subnet ({})", out.trim())))
}

/// Parses `SUBNET GATEWAY;` entries (gateway possibly empty).
fn gateway_from_ipam(text: &str) -> Option<std::net::Ipv4Addr> {
    text.split(';').find_map(|entry| {
        let mut words = entry.split_whitespace();
        let subnet = words.next()?;
        if let Some(gw) = words.next().and_then(|g| g.parse().ok()) {
            return Some(gw);
        }
        let (net, _) = subnet.split_once('/')?;
        let net: std::net::Ipv4Addr = net.parse().ok()?;
        Some(std::net::Ipv4Addr::from(u32::from(net) + 1))
    })
}

/// Removes containers left by harness runs whose process is gone.
pub async fn reap_stale_containers() -> Result<usize, TargetError> {
    reap_stale(&["ps", "-a"], &["rm", "-f"]).await
}

/// A Docker network made for one run, on a /24 of 172.31.0.0/16 that no
/// other network uses. Addresses: `.1` the gateway (this machine, as the
/// containers see it), `.2` the first container started on it (dynamic
/// addresses come from `.2`-`.6` only), and fixed addresses from `.10` up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNetwork {
    pub name: String,
    /// The subnet's network address, `172.31.X.0`.
    pub base: std::net::Ipv4Addr,
}

impl RunNetwork {
    /// The address `.host` on this network.
    pub fn addr(&self, host: u8) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(u32::from(self.base) + u32::from(host))
    }
    pub fn gateway(&self) -> std::net::Ipv4Addr {
        self.addr(1)
    }
    pub fn subnet(&self) -> String {
        format!("{}/24", self.base)
    }
}

/// How many /24s of 172.31.0.0/16 a run tries before giving up.
const SUBNET_TRIES: u32 = 32;

/// Creates the run's network, labelled with this process's id like its
/// containers. Tries /24s from an offset that depends on the process id, so
/// that concurrent runs seldom race for the same one.
pub async fn create_run_network() -> Result<RunNetwork, TargetError> {
    let pid = std::process::id();
    let mut last_error = String::new();
    for i in 0..SUBNET_TRIES {
        let third = ((pid + i * 7) % 240 + 8) as u8;
        let net = RunNetwork {
            name: format!("mailflow-{pid}-{third}"),
            base: std::net::Ipv4Addr::new(172, 31, third, 0),
        };
        let ip_range = format!("{}/29", net.base);
        let label = format!("{OWNER_LABEL}={pid}");
        let subnet = net.subnet();
        let gateway = net.gateway().to_string();
        let args = [
            "network", "create", "--driver", "bridge", "--subnet", &subnet, "--ip-range", &ip_range, "--gateway", &gateway,
            "--label", &label, &net.name,
        ];
        match docker(&args, Duration::from_secs(30)).await {
            Ok(_) => return Ok(net),
            // Another network (another run, another project) has this subnet.
            Err(TargetError::Docker(m)) if m.contains("overlap") || m.contains("already exists") => last_error = m,
            Err(e) => return Err(e),
        }
    }
    Err(TargetError::Docker(format!("no free /24 in 172.31.0.0/16 after {SUBNET_TRIES} tries; last: {last_error}")))
}

pub async fn remove_network(name: &str) -> Result<(), TargetError> {
    docker(&["network", "rm", name], Duration::from_secs(60)).await.map(|_| ())
}

/// Removes networks left by harness runs whose process is gone. Run after
/// [`reap_stale_containers`]: a network with containers cannot be removed.
pub async fn reap_stale_networks() -> Result<usize, TargetError> {
    reap_stale(&["network", "ls"], &["network", "rm"]).await
}

/// Removes every container, then every network, that this process
/// labelled: after an interrupted run, for what a start or a run that was
/// abandoned mid-way left (its own shutdown never ran). A network whose
/// containers are still being removed refuses removal for a moment, so each
/// is tried a few times, a second apart; the count removed.
pub async fn reap_own() -> Result<usize, TargetError> {
    let filter = format!("label={OWNER_LABEL}={}", std::process::id());
    let mut removed = 0;
    for id in docker(&["ps", "-aq", "--filter", &filter], Duration::from_secs(20)).await?.split_whitespace() {
        // "removal already in progress" is fine: it goes either way.
        removed += usize::from(docker(&["rm", "-f", id], Duration::from_secs(60)).await.is_ok());
    }
    for id in docker(&["network", "ls", "-q", "--filter", &filter], Duration::from_secs(20)).await?.split_whitespace() {
        for attempt in 0..5 {
            if docker(&["network", "rm", id], Duration::from_secs(60)).await.is_ok() {
                removed += 1;
                break;
            }
            if attempt < 4 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(removed)
}

/// Lists what carries [`OWNER_LABEL`] (`list`: `ps -a` or `network ls`) and
/// removes (`remove`) each whose owning process is gone; counts the removed.
async fn reap_stale(list: &[&str], remove: &[&str]) -> Result<usize, TargetError> {
    let filter = format!("label={OWNER_LABEL}");
    let format = format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
    let mut args = list.to_vec();
    args.extend(["--filter", &filter, "--format", &format]);
    let out = docker(&args, Duration::from_secs(20)).await?;
    let mut removed = 0;
    for line in out.lines() {
        let Some((id, pid)) = line.split_once(' ') else { continue };
        let mut rm = remove.to_vec();
        rm.push(id);
        if !pid_alive(pid) && docker(&rm, Duration::from_secs(60)).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn pid_alive(pid: &str) -> bool {
    pid.trim().parse::<u32>().is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
}

/// The container's address on `network`.
pub async fn address_on(id: &str, network: &str) -> Result<std::net::IpAddr, TargetError> {
    let format = format!("{{{{with index .NetworkSettings.Networks \"{network}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}");
    let out = docker(&["inspect", "--format", &format, id], Duration::from_secs(20)).await?;
    out.trim()
        .parse()
        .map_err(|_| TargetError::Start(format!("container {id} has no address on network {network} ({})", out.trim())))
}

/// A long-lived `docker exec -i <container> <argv...>` with its stdin and
/// stdout piped (stderr dropped), killed when the returned child is dropped:
/// the line-in, line-out helpers inside a container (the REST relay, the
/// port prober) run this way.
pub(super) fn exec_piped(container_id: &str, argv: &[&str]) -> std::io::Result<(tokio::process::Child, tokio::process::ChildStdin, tokio::process::ChildStdout)> {
    let mut child = tokio::process::Command::new("docker")
        .args(["exec", "-i", container_id])
        .args(argv)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    let stdout = child.stdout.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    Ok((child, stdin, stdout))
}

#[cfg(test)]
mod tests {
    //! Hand-made `docker network inspect` output.
    use super::*;

    #[test]
    fn gateways() {
        assert_eq!(gateway_from_ipam("172.17.0.0/16 ;"), Some("172.17.0.1".parse().unwrap()));
        assert_eq!(gateway_from_ipam("172.30.5.0/24 172.30.5.254;"), Some("172.30.5.254".parse().unwrap()));
        assert_eq!(gateway_from_ipam("fd00::/64 ;172.18.0.0/16 ;"), Some("172.18.0.1".parse().unwrap()));
        assert_eq!(gateway_from_ipam(""), None);
    }
}

