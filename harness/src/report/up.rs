//! What `mailflow up` prints: the running container target's endpoints.

use std::io::{self, Write};

use crate::scenario::Suite;
use crate::target::containers::ContainersTarget;
use crate::target::target_file::WrittenTarget;
use crate::target::{Reachability, Target};

/// One line per endpoint: container, SMTP, REST, sink, web, network,
/// vantage points, DNS, HTTPS, lists; with a written target file, the
/// mailbox, REST as this machine reaches it, and the file.
pub fn endpoints(target: &ContainersTarget, suite: &Suite, written: Option<&WrittenTarget>, out: &mut impl Write) -> io::Result<()> {
    let sink = target.sink().addr();
    writeln!(out, "container   {}", target.container_id())?;
    writeln!(out, "smtp        {}", target.smtp_addr())?;
    writeln!(
        out,
        "rest        http://127.0.0.1:8001/3.1/ inside the container (docker exec {} curl ...; user restadmin, password in $MAILFLOW_REST_PASSWORD there)",
        &target.container_id()[..12]
    )?;
    writeln!(out, "sink        {sink} (probe domain {})", suite.probe_domain)?;
    match target.web() {
        Some(web) => writeln!(out, "web         {}/postorius/lists/  {}/hyperkitty/", web.base(), web.base())?,
        None => writeln!(out, "web         off (MAILFLOW_WEB=0)")?,
    }
    let net = target.network();
    writeln!(out, "network     {} ({}, gateway {})", net.name, net.subnet(), net.gateway())?;
    writeln!(out, "vantages    {}", target.vantages().join(", "))?;
    if let Some(dns) = target.dns_server() {
        writeln!(out, "dns         {dns} (NSD, zone example.test)")?;
    }
    if let Some(web) = target.http_endpoint() {
        writeln!(out, "https       http://{0}/ and https://{0}/ at {1} (certificate signed by the image's CA)", web.host, web.addr)?;
    }
    for l in &suite.lists {
        writeln!(out, "list        {} ({} members)", l.address(), l.members.len())?;
    }
    if let Some(w) = written {
        let name = |p: &std::path::Path| p.display().to_string();
        if let Some(imap) = target.imap() {
            writeln!(
                out,
                "mailbox     imaps://{}:993 (Dovecot; user {}; the probe domain's mail is also delivered here)",
                imap.addr,
                crate::target::containers::ImapContainer::USER
            )?;
        }
        if let Some((url, _)) = target.exposed_rest() {
            writeln!(out, "rest        {url}/3.1/ from this machine (user restadmin, password in {})", name(&w.companions[0]))?;
        }
        let secrets: Vec<String> = w.companions.iter().map(|p| name(p)).collect();
        writeln!(out, "target      {} (secrets and CA in {})", name(&w.file), secrets.join(", "))?;
        writeln!(out, "run         mailflow run --target {} [PATHS]", name(&w.file))?;
        writeln!(out, "Ctrl-C stops and removes the containers and these files. Arrivals at the sink:")?;
        return out.flush();
    }
    writeln!(out, "Ctrl-C stops and removes the containers. Arrivals at the sink:")?;
    out.flush()
}
