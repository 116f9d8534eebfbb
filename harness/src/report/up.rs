//! What `mailflow up` prints: the running container target's endpoints.

use std::io::{self, Write};

use crate::scenario::Suite;
use crate::target::containers::ContainersTarget;
use crate::target::{Reachability, Target};

/// One line per endpoint: container, SMTP, REST, sink, web, network,
/// vantage points, DNS, HTTPS, lists.
pub fn endpoints(target: &ContainersTarget, suite: &Suite, out: &mut impl Write) -> io::Result<()> {
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
    writeln!(out, "Ctrl-C stops and removes the containers. Arrivals at the sink:")?;
    out.flush()
}
