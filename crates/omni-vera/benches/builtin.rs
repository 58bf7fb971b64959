//! Time per message of the built-in triage engine over the evaluation set: mean, p50, p99
//! and max of many runs. Run with `make bench` (release build).

use std::hint::black_box;
use std::time::{Duration, Instant};

use omni_tenancy::{CompanySettings, Locale};
use omni_ticketing::TriageInput;
use omni_vera::BuiltinTriage;

fn main() {
    let set: serde_json::Value =
        match serde_json::from_str(include_str!("../tests/fixtures/triage-eval.json")) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("cannot read the evaluation set: {e}");
                std::process::exit(1);
            }
        };
    let inputs: Vec<TriageInput> = set["messages"]
        .as_array()
        .map(|m| m.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .map(|text| TriageInput {
            messages: vec![text.to_owned()],
            customer_name: Some("Cliente".into()),
            locale: Locale::PtBr,
            categories: CompanySettings::default().categories,
        })
        .collect();
    let engine = BuiltinTriage;
    // Warm up, then time each message separately.
    for input in &inputs {
        black_box(engine.classify(black_box(input)));
    }
    let rounds = 200;
    let mut samples: Vec<Duration> = Vec::with_capacity(rounds * inputs.len());
    let started = Instant::now();
    for _ in 0..rounds {
        for input in &inputs {
            let t = Instant::now();
            black_box(engine.classify(black_box(input)));
            samples.push(t.elapsed());
        }
    }
    let total = started.elapsed();
    samples.sort_unstable();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let mean = total / u32::try_from(samples.len()).unwrap_or(u32::MAX);
    println!(
        "built-in triage, {} messages × {rounds} rounds ({} classifications)",
        inputs.len(),
        samples.len()
    );
    println!(
        "  mean {mean:?}  p50 {:?}  p99 {:?}  max {:?}",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    println!(
        "  throughput {:.0} messages/s on one core",
        samples.len() as f64 / total.as_secs_f64()
    );
}
