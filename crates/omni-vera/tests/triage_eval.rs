//! Accuracy of the built-in engine on a hand-labelled evaluation set (tests/fixtures).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omni_tenancy::{CompanySettings, Locale};
use omni_ticketing::{Priority, TriageInput};
use omni_vera::BuiltinTriage;
use serde_json::Value;

fn rank(p: &str) -> i32 {
    match p {
        "low" => 0,
        "medium" => 1,
        "high" => 2,
        _ => 3,
    }
}

#[test]
fn the_builtin_engine_meets_its_accuracy_bars() {
    let set: Value = serde_json::from_str(include_str!("fixtures/triage-eval.json")).unwrap();
    let messages = set["messages"].as_array().unwrap();
    assert!(messages.len() >= 150);
    let (mut category, mut sentiment, mut priority) = (0, 0, 0);
    let mut misses = Vec::new();
    for m in messages {
        let text = m["text"].as_str().unwrap();
        let r = BuiltinTriage.classify(&TriageInput {
            messages: vec![text.to_owned()],
            customer_name: None,
            locale: Locale::PtBr,
            categories: CompanySettings::default().categories,
        });
        let p = match r.priority {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        };
        let ok_c = r.category == m["category"].as_str().unwrap();
        let ok_s = r.sentiment.as_str() == m["sentiment"].as_str().unwrap();
        let ok_p = (rank(p) - rank(m["priority"].as_str().unwrap())).abs() <= 1;
        category += usize::from(ok_c);
        sentiment += usize::from(ok_s);
        priority += usize::from(ok_p);
        if !(ok_c && ok_s && ok_p) {
            misses.push(format!(
                "{text:?}: {}{} {}{} {}{}",
                r.category,
                if ok_c { "" } else { "✗" },
                r.sentiment,
                if ok_s { "" } else { "✗" },
                p,
                if ok_p { "" } else { "✗" }
            ));
        }
    }
    let n = messages.len() as f64;
    let (c, s, p) = (
        category as f64 / n,
        sentiment as f64 / n,
        priority as f64 / n,
    );
    println!(
        "triage accuracy on {n} messages: category {c:.3}, sentiment {s:.3}, priority within one step {p:.3}"
    );
    for miss in &misses {
        println!("  {miss}");
    }
    assert!(c >= 0.85, "category accuracy {c:.3} < 0.85");
    assert!(s >= 0.80, "sentiment accuracy {s:.3} < 0.80");
    assert!(p >= 0.90, "priority-within-one accuracy {p:.3} < 0.90");
}
