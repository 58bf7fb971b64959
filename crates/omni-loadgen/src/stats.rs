//! Latency recording and the report every scenario prints and writes.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies in microseconds, 1 µs to 60 s at three significant figures.
#[derive(Clone)]
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self(Histogram::new_with_bounds(1, 60_000_000, 3)?))
    }

    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.clamp(1, 60_000_000));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Count and percentiles as JSON, for a report's extra figures.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count(),
            "p50_ms": round(self.ms(0.50), 3),
            "p90_ms": round(self.ms(0.90), 3),
            "p99_ms": round(self.ms(0.99), 3),
            "max_ms": round(self.0.max() as f64 / 1000.0, 3),
        })
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// What one scenario measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    /// What was asked of the scenario (connections, rate, duration…).
    pub settings: serde_json::Value,
    pub requests: u64,
    pub errors: u64,
    pub duration_secs: f64,
    pub throughput_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Figures particular to the scenario (accepted webhooks, frames received…).
    pub extra: serde_json::Value,
}

impl Report {
    pub fn new(
        scenario: &str,
        settings: serde_json::Value,
        latencies: &Latencies,
        errors: u64,
        elapsed: Duration,
        extra: serde_json::Value,
    ) -> Self {
        let requests = latencies.count() + errors;
        let secs = elapsed.as_secs_f64().max(1e-9);
        Self {
            scenario: scenario.to_owned(),
            settings,
            requests,
            errors,
            duration_secs: round(secs, 3),
            throughput_per_sec: round(latencies.count() as f64 / secs, 1),
            p50_ms: round(latencies.ms(0.50), 3),
            p90_ms: round(latencies.ms(0.90), 3),
            p99_ms: round(latencies.ms(0.99), 3),
            max_ms: round(latencies.0.max() as f64 / 1000.0, 3),
            extra,
        }
    }

    /// The human table, then the JSON file when asked for.
    pub fn publish(&self, json: Option<&Path>) -> anyhow::Result<()> {
        println!("{}", self.table());
        if let Some(path) = json {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, serde_json::to_string_pretty(self)?)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        format!(
            "{:<10} {:>9} {:>7} {:>8} {:>11} {:>9} {:>9} {:>9} {:>9}\n{:<10} {:>9} {:>7} {:>8.1} {:>11.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}\n{}",
            "scenario",
            "requests",
            "errors",
            "secs",
            "per sec",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            self.scenario,
            self.requests,
            self.errors,
            self.duration_secs,
            self.throughput_per_sec,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            if self.extra.is_null() {
                String::new()
            } else {
                format!("  {}", self.extra)
            }
        )
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput_come_from_the_recorded_latencies() {
        let mut a = Latencies::new().unwrap();
        let mut b = Latencies::new().unwrap();
        for ms in 1..=90 {
            a.record(Duration::from_millis(ms));
        }
        for ms in 91..=100 {
            b.record(Duration::from_millis(ms));
        }
        a.merge(&b);
        let r = Report::new(
            "t",
            serde_json::Value::Null,
            &a,
            3,
            Duration::from_secs(2),
            serde_json::Value::Null,
        );
        assert_eq!(r.requests, 103);
        assert_eq!(r.errors, 3);
        assert_eq!(r.throughput_per_sec, 50.0);
        assert!((r.p50_ms - 50.0).abs() < 0.1, "{}", r.p50_ms);
        assert!((r.p99_ms - 99.0).abs() < 0.1, "{}", r.p99_ms);
        assert!((r.max_ms - 100.0).abs() < 0.1, "{}", r.max_ms);
        assert!(r.table().contains("50.0"));
    }
}
