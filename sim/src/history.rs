//! The hourly history the delta benchmarks replay (`scripts/bench-history.sh`): one
//! report, a package upgraded every [`PACKAGE_EVERY`] reports (a week), a verdict
//! changed every [`VERDICT_EVERY`] (a month).

use chrono::{DateTime, Utc};

use crate::fleetsim::{SimAgent, sim_host, sim_report};

/// A package is upgraded every this many reports of the history.
pub const PACKAGE_EVERY: usize = 168;
/// A verdict changes every this many reports of the history.
pub const VERDICT_EVERY: usize = 720;

/// The simulated report the history starts from when no agent's report is given: host
/// 0 of seed 1 (round 0, no agent id), one result per id of `checks`, collected `at`.
pub fn sim_base_report<S: AsRef<str>>(
    checks: impl IntoIterator<Item = S>,
    at: DateTime<Utc>,
) -> serde_json::Value {
    let mut agent = SimAgent::new(1, 0, sim_host(0));
    agent.agent_id = String::new();
    serde_json::to_value(sim_report(checks, &agent, 1, 0, at)).unwrap_or_default()
}

/// Makes `report` (a report's JSON) the one of hour `i` of the history (besides its
/// time): a package upgraded every [`PACKAGE_EVERY`] reports, a verdict changed every
/// [`VERDICT_EVERY`].
pub fn step(report: &mut serde_json::Value, i: usize) {
    let Some(results) = report["results"].as_array_mut() else {
        return;
    };
    if i > 0 && i.is_multiple_of(PACKAGE_EVERY) {
        // A package upgraded: its version, the list's digest in the summary.
        if let Some(sw) = results
            .iter_mut()
            .find(|r| r["check"] == "inventory.software")
            && let Some(pkgs) = sw["facts"]["packages"].as_array_mut()
            && !pkgs.is_empty()
        {
            let k = (i / PACKAGE_EVERY) % pkgs.len();
            let v = format!("{}+u{}", pkgs[k]["version"].as_str().unwrap_or(""), i);
            pkgs[k]["version"] = v.into();
            sw["summary"] = format!(
                "{} packages; the sorted list hashes to sha256:{}",
                pkgs.len(),
                attest_proto::sha256_hex(&i.to_le_bytes())
            )
            .into();
        }
    }
    if i > 0 && i.is_multiple_of(VERDICT_EVERY) && !results.is_empty() {
        // A verdict changed.
        let k = (i / VERDICT_EVERY) % results.len();
        let was = results[k]["status"].as_str().unwrap_or("").to_owned();
        if was == "pass" || was == "fail" {
            let now = if was == "pass" { "fail" } else { "pass" };
            results[k]["status"] = now.into();
            results[k]["summary"] = format!("changed to {now} at report {i}").into();
        }
    }
}

#[cfg(test)]
mod tests {
    use attest_collector::catalog::Catalog;
    use attest_collector::store::codec;
    use attest_proto::ChainState;

    use super::*;
    use crate::fleetsim::sim_key;

    const T0: i64 = 1_790_000_000_000;
    const HOUR: i64 = 3_600_000;

    /// The report the history benchmarks start from: the agent's report of a fixture
    /// host (`ATTEST_BENCH_REPORT`, a file of `attest-agent collect --format json`), or
    /// a simulated Linux host's.
    fn history_base_report() -> serde_json::Value {
        match std::env::var("ATTEST_BENCH_REPORT") {
            Ok(path) => serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
            Err(_) => {
                let catalog = Catalog::builtin().unwrap();
                let at = DateTime::from_timestamp_millis(T0).unwrap();
                sim_base_report(catalog.checks().iter().map(|c| c.id.as_str()), at)
            }
        }
    }

    #[test]
    fn a_history_changes_a_package_weekly_and_a_verdict_monthly() {
        let catalog = Catalog::builtin().unwrap();
        let at = DateTime::from_timestamp_millis(T0).unwrap();
        let base = sim_base_report(catalog.checks().iter().map(|c| c.id.as_str()), at);
        let mut report = base.clone();
        step(&mut report, PACKAGE_EVERY - 1);
        assert_eq!(report, base, "no change before the first week");
        step(&mut report, VERDICT_EVERY);
        let k = (VERDICT_EVERY / VERDICT_EVERY) % base["results"].as_array().unwrap().len();
        let (was, now) = (
            &base["results"][k]["status"],
            &report["results"][k]["status"],
        );
        if was == "pass" || was == "fail" {
            assert_ne!(was, now);
        } else {
            assert_eq!(was, now);
        }
    }

    /// Bytes on the wire per upload on the same hourly stream as
    /// the collector's `store::delta_tests::bench_history_bytes_per_report`
    /// (`scripts/bench-history.sh`, figures in `docs/benchmarks.md`): each report as the agent sends it — in full, and as a delta
    /// against the report before it (the last one acknowledged), made by the agent's own
    /// encoder (`attest_agent::delta`) — and rebuilt by the collector's decoder against
    /// the same base, byte for byte. Body bytes; mean, p50 and p99 over
    /// `ATTEST_BENCH_REPORTS` reports (default 1,000).
    #[test]
    #[ignore = "benchmark: scripts/bench-history.sh"]
    fn bench_upload_bytes_per_report() {
        use attest_agent::delta::DeltaSender;
        use std::time::Instant;
        let n: usize = std::env::var("ATTEST_BENCH_REPORTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        assert!(n >= 2);
        let base = history_base_report();
        let host: attest_proto::HostInfo = serde_json::from_value(base["host"].clone()).unwrap();
        let key = sim_key(14, 0);
        let mut agent = SimAgent {
            index: 0,
            key: key.clone(),
            agent_id: "agt_0123456789abcdef0123456789abcdef".into(),
            host,
            chain: ChainState::genesis(&key.verifying_key()),
        };
        let mut report = base.clone();
        report["agent_id"] = agent.agent_id.clone().into();
        let mut sender = DeltaSender::in_memory(&agent.agent_id);
        let (mut full, mut delta, mut plain_zstd) = (Vec::new(), Vec::new(), Vec::new());
        let mut header = 0usize;
        let (mut enc_s, mut dec_s) = (0f64, 0f64);
        let mut previous: Option<Vec<u8>> = None;
        for i in 0..n {
            let at = DateTime::from_timestamp_millis(T0 + i as i64 * HOUR).unwrap();
            report["collected_at"] = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
            step(&mut report, i);
            let mut r: attest_proto::Report = serde_json::from_value(report.clone()).unwrap();
            let envelope = agent.sign_next(&mut r).unwrap();
            full.push(envelope.len());
            plain_zstd.push(zstd::bulk::compress(&envelope, codec::LEVEL).unwrap().len());
            let t = Instant::now();
            let encoded = sender.encode(&envelope);
            enc_s += t.elapsed().as_secs_f64();
            match (&previous, encoded) {
                (Some(prev), Some((named, body))) => {
                    header = header.max(named.len());
                    let t = Instant::now();
                    let dict = attest_proto::form::to_form(prev);
                    let form = codec::decompress_bounded(&body, Some(&dict), 8 << 20).unwrap();
                    let back = attest_proto::form::from_form(&form).unwrap();
                    dec_s += t.elapsed().as_secs_f64();
                    assert!(back == envelope, "report {i} rebuilds byte for byte");
                    delta.push(body.len());
                }
                (None, None) => delta.push(envelope.len()),
                (p, e) => panic!("report {i}: base {} delta {}", p.is_some(), e.is_some()),
            }
            sender.acknowledged(&envelope, true);
            previous = Some(envelope);
        }
        let stats = |v: &[usize]| {
            let mut s = v.to_vec();
            s.sort_unstable();
            let mean = s.iter().sum::<usize>() as f64 / s.len() as f64;
            let pct = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
            format!("mean {mean:.0} B, p50 {} B, p99 {} B", pct(0.5), pct(0.99))
        };
        println!("history upload: {n} hourly reports, body bytes per upload:");
        println!("history upload:   full envelope      {}", stats(&full));
        println!(
            "history upload:   zstd alone (-3)    {}",
            stats(&plain_zstd)
        );
        println!(
            "history upload:   delta              {} (the first report in full, counted)",
            stats(&delta)
        );
        println!(
            "history upload:   delta, 2nd onward  {}",
            stats(&delta[1..])
        );
        let total_full: usize = full.iter().sum();
        let total_delta: usize = delta.iter().sum();
        println!(
            "history upload:   {:.1}x fewer body bytes; plus {header} B of x-attest-delta-base \
             value per delta; agent encode {:.3} ms/report, collector rebuild {:.3} ms/report \
             (zstd at -O3, the rest debug)",
            total_full as f64 / total_delta as f64,
            enc_s * 1e3 / n as f64,
            dec_s * 1e3 / (n - 1) as f64
        );
    }
}
