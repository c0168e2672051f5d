//! Measures each local model's `SimilarityScale::key_lift`: how much embedding a fact with its
//! key (`fact_passage`) raises its cosine with a question, averaged over every pair of
//! question and fact on a language probe (answers and distractors alike).
//!
//! `cargo run --release -p pika-worker --example key_lift -- ../shared/eval/lang-probe-dev.json`
//! — needs the models (scripts/fetch-model.sh).

use std::path::PathBuf;

use pika_domain::fact_passage;
use serde_json::Value;

type Embed = Box<dyn Fn(&[String]) -> Vec<Vec<f32>>>;

fn models() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// A set's name, its questions, and its facts as (key, text).
type ProbeSet = (&'static str, Vec<String>, Vec<(String, String)>);

/// The probe's sets, with their facts as `lang_probe.py` adds them.
fn probe_sets(probe: &Value) -> Vec<ProbeSet> {
    let facts = |name: &str| -> Vec<Vec<String>> {
        probe[name]
            .as_array()
            .expect("facts")
            .iter()
            .map(strings)
            .collect()
    };
    let with_distractors = |rows: &[Vec<String>], distractors: &str, verbs: [&str; 2]| {
        let mut facts: Vec<(String, String)> = rows
            .iter()
            .map(|row| (row[0].clone(), row[2].clone()))
            .collect();
        for thing in strings(&probe[distractors]) {
            facts.push(("likes.thing".into(), format!("{} {thing}", verbs[0])));
            facts.push(("dislikes.thing".into(), format!("{} {thing}", verbs[1])));
        }
        facts
    };
    let (en, vi) = (facts("EN"), facts("VI"));
    let en_facts = with_distractors(&en, "DISTRACT_EN", ["Likes", "Does not like"]);
    let vi_facts = with_distractors(&vi, "DISTRACT_VI", ["Thích", "Không thích"]);
    vec![
        ("en", en.iter().map(|r| r[3].clone()).collect(), en_facts),
        (
            "vi",
            vi.iter().map(|r| r[3].clone()).collect(),
            vi_facts.clone(),
        ),
        ("cross", strings(&probe["CROSS"]), vi_facts),
    ]
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: key_lift PROBE.json");
    let probe: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("probe")).expect("json");
    let (e5, minilm) = pika_worker::embedding::fetched_models(&models())
        .expect("the local models (run scripts/fetch-model.sh)");
    let e5_query = e5.clone();
    let models: Vec<(&str, Embed, Embed)> = vec![
        (
            "multilingual-e5-small",
            Box::new(move |t| e5_query.embed_blocking(t, "query: ").expect("embed")),
            Box::new(move |t| e5.embed_blocking(t, "passage: ").expect("embed")),
        ),
        (
            "all-MiniLM-L6-v2",
            Box::new({
                let minilm = minilm.clone();
                move |t| minilm.embed_blocking(t).expect("embed")
            }),
            Box::new(move |t| minilm.embed_blocking(t).expect("embed")),
        ),
    ];
    for (name, query, passage) in &models {
        let mut all = Vec::new();
        for (set, questions, facts) in probe_sets(&probe) {
            // One text a call, as a search embeds its question: padding in a batch moves the
            // cosines by about as much as the lift.
            let one = |embed: &Embed, text: String| embed(&[text]).remove(0);
            let texts: Vec<Vec<f32>> = facts.iter().map(|(_, t)| one(passage, t.clone())).collect();
            let keyed: Vec<Vec<f32>> = facts
                .iter()
                .map(|(k, t)| one(passage, fact_passage(k, t)))
                .collect();
            let mut lifts = Vec::new();
            for question in questions {
                let q = one(query, question);
                for (plain, with_key) in texts.iter().zip(&keyed) {
                    lifts.push(cosine(&q, with_key) - cosine(&q, plain));
                }
            }
            let mean = lifts.iter().sum::<f64>() / lifts.len() as f64;
            println!(
                "{name} {set}: mean lift {mean:.4} over {} pairs",
                lifts.len()
            );
            all.extend(lifts);
        }
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        println!("{name}: mean lift {mean:.4} over {} pairs", all.len());
    }
}
