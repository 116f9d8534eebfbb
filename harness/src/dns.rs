//! DNS answers from a named server, with hickory-resolver: the records of a
//! name and type, and their TTLs. Always a fresh resolver without a cache
//! or the hosts file, so the TTL seen is the server's.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::Resolver;

use crate::scenario::DnsType;

/// One record of an answer: its value as in a zone file, and its TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub value: String,
    pub ttl: u32,
}

fn record_type(t: DnsType) -> RecordType {
    match t {
        DnsType::A => RecordType::A,
        DnsType::Aaaa => RecordType::AAAA,
        DnsType::Mx => RecordType::MX,
        DnsType::Txt => RecordType::TXT,
    }
}

/// Asks `server` once (UDP, then TCP if truncated) for `name`'s records of
/// `rtype`. No records is an empty answer, not an error.
pub async fn lookup(server: SocketAddr, name: &str, rtype: DnsType, timeout: Duration) -> Result<Vec<Answer>, String> {
    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
    for c in &mut ns.connections {
        c.port = server.port();
    }
    let mut config = ResolverConfig::default();
    config.name_servers = vec![ns];
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| format!("DNS resolver: {e}"))?;
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let wanted = record_type(rtype);
    match tokio::time::timeout(timeout + Duration::from_secs(1), resolver.lookup(fqdn.as_str(), wanted)).await {
        Err(_) => Err(format!("no answer from {server} within {timeout:?}")),
        Ok(Err(e)) if e.is_no_records_found() => Ok(Vec::new()),
        Ok(Err(e)) => Err(format!("asking {server}: {e}")),
        Ok(Ok(lookup)) => Ok(lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == wanted)
            .map(|r| Answer { value: normalize(&r.data.to_string()), ttl: r.ttl })
            .collect()),
    }
}

/// A value as compared: lowercase names without the final dot, single
/// spaces, TXT without its quotes. `10 Lists.Example.Test.` and
/// `10 lists.example.test` are the same MX.
pub fn normalize(value: &str) -> String {
    value
        .split_whitespace()
        .map(|word| {
            let word = word.trim_matches('"');
            let word = word.strip_suffix('.').filter(|w| !w.is_empty()).unwrap_or(word);
            if word.contains('.') && !word.contains('=') { word.to_ascii_lowercase() } else { word.to_string() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_as_in_a_zone_file() {
        assert_eq!(normalize("10 Lists.Example.Test."), "10 lists.example.test");
        assert_eq!(normalize("192.0.2.25"), "192.0.2.25");
        assert_eq!(normalize("\"v=spf1 mx -all\""), "v=spf1 mx -all");
        assert_eq!(normalize("2001:db8::25"), "2001:db8::25");
    }
}
