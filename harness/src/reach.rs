//! Reachability: is a TCP port open, refused or filtered, seen from a vantage
//! point? Two ways to look: a connection attempt from this process (the
//! "outside" vantage point), and a command run somewhere else (a container
//! of the run, or the lists host itself) whose exit status and error text
//! say what the attempt found.
//!
//! Every attempt has a deadline: no answer by then is `filtered`, which is
//! what a firewall that drops packets looks like.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::scenario::PortState;

/// What one attempt found, and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub state: PortState,
    pub took: Duration,
}

/// Connects from this process. A reset is `refused`, no answer within
/// `deadline` is `filtered`; anything else (no route, address in use) is an
/// error, since it says nothing about the port.
pub async fn tcp_from_here(addr: SocketAddr, deadline: Duration) -> std::io::Result<Attempt> {
    let started = Instant::now();
    let state = match tokio::time::timeout(deadline, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => PortState::Open,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => PortState::Refused,
        Ok(Err(e)) => return Err(e),
        Err(_) => PortState::Filtered,
    };
    Ok(Attempt { state, took: started.elapsed() })
}

/// Exit status of coreutils `timeout` when the command ran out of time.
const TIMED_OUT: i64 = 124;

/// A command that tries `ip:port` with bash's `/dev/tcp` under coreutils
/// `timeout`; [`state_from_exec`] reads its result. Needs bash and coreutils
/// where it runs (Debian's minbase has both).
pub fn tcp_probe_command(ip: std::net::IpAddr, port: u16, deadline: Duration) -> Vec<String> {
    vec![
        "timeout".into(),
        format!("{:.3}", deadline.as_secs_f64()),
        "bash".into(),
        "-c".into(),
        // The address and port go in as arguments, not into the script text.
        r#"exec 3<>"/dev/tcp/$1/$2""#.into(),
        "bash".into(),
        ip.to_string(),
        port.to_string(),
    ]
}

/// Reads the result of [`tcp_probe_command`]: exit 0 is open, `timeout`'s
/// 124 is filtered, "Connection refused" is refused; anything else is an
/// error with the command's own words.
pub fn state_from_exec(code: i64, stderr: &str) -> Result<PortState, String> {
    match code {
        0 => Ok(PortState::Open),
        TIMED_OUT => Ok(PortState::Filtered),
        _ if stderr.contains("Connection refused") => Ok(PortState::Refused),
        _ => Err(format!("the connection attempt failed with exit status {code}: {}", stderr.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_results() {
        let cases: &[(i64, &str, Result<PortState, &str>)] = &[
            (0, "", Ok(PortState::Open)),
            (124, "", Ok(PortState::Filtered)),
            (1, "bash: connect: Connection refused\nbash: line 1: /dev/tcp/127.0.0.1/2525: Connection refused\n", Ok(PortState::Refused)),
            (1, "bash: connect: No route to host\n", Err("the connection attempt failed with exit status 1: bash: connect: No route to host")),
            (127, "timeout: failed to run command 'bash': No such file or directory", Err("the connection attempt failed with exit status 127: timeout: failed to run command 'bash': No such file or directory")),
        ];
        for (code, stderr, expected) in cases {
            assert_eq!(state_from_exec(*code, stderr), expected.map_err(str::to_string), "exit {code}, {stderr:?}");
        }
    }

    #[test]
    fn probe_command_keeps_address_out_of_the_script() {
        let argv = tcp_probe_command("172.31.7.2".parse().unwrap(), 8001, Duration::from_millis(2500));
        assert_eq!(argv[..2], ["timeout", "2.500"]);
        assert_eq!(argv[argv.len() - 2..], ["172.31.7.2", "8001"]);
    }

    #[tokio::test]
    async fn from_here_on_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let attempt = tcp_from_here(open, Duration::from_secs(2)).await.unwrap();
        assert_eq!(attempt.state, PortState::Open);
        drop(listener);
        // The port just freed: nothing listens, loopback answers with a reset.
        let attempt = tcp_from_here(open, Duration::from_secs(2)).await.unwrap();
        assert_eq!(attempt.state, PortState::Refused);
    }
}
