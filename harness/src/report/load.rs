//! The latency summary of `mailflow load`: a table for people, one JSON
//! object for machines. Durations in seconds with three decimals (JSON: milliseconds).

use std::fmt::Write as _;

use crate::run::load::{LoadSummary, Percentiles};

fn s(d: std::time::Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// ```text
/// load: 100 probes sent, 99 delivered to every member, 1 failed
/// latency          count      p50      p90      p99      max
/// end to end          99   2.104s   2.870s   3.402s   3.402s
/// accepted           100   0.012s ...
/// ```
pub fn human(summary: &LoadSummary) -> String {
    let mut out = format!(
        "load: {} probes sent, {} delivered to every member, {} failed\n",
        summary.sent, summary.delivered, summary.failed
    );
    let _ = writeln!(out, "{:<14} {:>7} {:>9} {:>9} {:>9} {:>9}", "latency", "count", "p50", "p90", "p99", "max");
    let mut line = |name: &str, p: &Percentiles| {
        let _ = writeln!(out, "{name:<14} {:>7} {:>9} {:>9} {:>9} {:>9}", p.count, s(p.p50), s(p.p90), s(p.p99), s(p.max));
    };
    if let Some(p) = &summary.end_to_end {
        line("end to end", p);
    }
    for (hop, p) in &summary.hops {
        line(hop, p);
    }
    out
}

/// One line: `{"load":{"sent":..,"delivered":..,"failed":..,"end_to_end_ms":{..},"hops_ms":{"accepted":{..},..}}}`.
pub fn json(summary: &LoadSummary) -> String {
    let p = |p: &Percentiles| {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        serde_json::json!({ "count": p.count, "p50": ms(p.p50), "p90": ms(p.p90), "p99": ms(p.p99), "max": ms(p.max) })
    };
    let hops: serde_json::Map<String, serde_json::Value> = summary.hops.iter().map(|(k, v)| (k.to_string(), p(v))).collect();
    serde_json::json!({ "load": {
        "sent": summary.sent,
        "delivered": summary.delivered,
        "failed": summary.failed,
        "end_to_end_ms": summary.end_to_end.as_ref().map(p),
        "hops_ms": hops,
    }})
    .to_string()
}

/// Where the summary goes, by the run's stdout format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The human table on stdout, after the human report.
    Stdout,
    /// One more JSON line on stdout, after the JSON report's lines.
    JsonLine,
    /// The human table on stderr, beside a format that has no place for it.
    Stderr,
}

/// Writes the summary where `placement` says.
pub fn print(summary: &LoadSummary, placement: Placement) {
    match placement {
        Placement::Stdout => print!("{}", human(summary)),
        Placement::JsonLine => println!("{}", json(summary)),
        Placement::Stderr => eprint!("{}", human(summary)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn table_and_json() {
        let p = Percentiles::of(&[Duration::from_millis(1500), Duration::from_millis(2500)]).unwrap();
        let summary = LoadSummary { sent: 2, delivered: 2, failed: 0, end_to_end: Some(p), hops: vec![("accepted", p)] };
        assert_eq!(
            human(&summary),
            "load: 2 probes sent, 2 delivered to every member, 0 failed\n\
             latency          count       p50       p90       p99       max\n\
             end to end           2    1.500s    2.500s    2.500s    2.500s\n\
             accepted             2    1.500s    2.500s    2.500s    2.500s\n"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&summary)).unwrap();
        assert_eq!(v["load"]["end_to_end_ms"]["p50"], 1500.0);
        assert_eq!(v["load"]["hops_ms"]["accepted"]["max"], 2500.0);
    }
}
