//! Offline evaluation of extraction: the rules extractor, `decide` and the `UserMemory`
//! aggregate over a labelled set, scored with exactly the rules of
//! `shared/eval/score_extraction.py` (which scores a running server the same way).
//!
//! Two sets, each with its own bar: `tests/data/extraction-dev.jsonl`, a copy of
//! `shared/eval/extraction-dev.jsonl` kept in the repository so the test never depends on where
//! the clone sits (F1 ≥ 0.95), and `eval/extraction-natural.jsonl`, our set of how children
//! really type (F1 ≥ 0.9); neither may keep a fact its case forbids.
//! `PIKA_EXTRACTION_EVAL=/path/to/set.jsonl` scores another set in place of the first:
//!
//! ```text
//! cargo test -p pika-worker --test extraction_eval -- --nocapture
//! ```

use std::collections::BTreeMap;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use pika_domain::{
    ChatMessage, Conversation, FactKey, FactValue, JobId, LiveFact, Role, UserMemory,
    UserMemoryCommand,
};
use pika_worker::extraction::Extractor;
use pika_worker::extraction::decide::decide;
use pika_worker::extraction::rules::RulesExtractor;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

const DEV_SET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/extraction-dev.jsonl"
);

const NATURAL_SET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../eval/extraction-natural.jsonl"
);

/// Leading words the scorer ignores, as in `score_extraction.py`.
const ARTICLES: &[&str] = &[
    "a", "an", "the", "my", "our", "some", "màu", "con", "món", "cái",
];

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    sessions: Vec<Vec<Message>>,
    expect: Vec<Label>,
    absent: Vec<Label>,
    max_live_facts: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[derive(Debug, Deserialize)]
struct Label {
    key: String,
    value: String,
}

/// Counts over a whole set, as the scorer prints them.
#[derive(Debug, Default)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
    forbidden: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `norm` of the scorer: NFC, lower case, `\w+` words, leading articles dropped.
fn norm(value: &str) -> String {
    let text: String = value.nfc().collect::<String>().to_lowercase();
    let mut words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    while words.len() > 1 && ARTICLES.contains(&words[0]) {
        words.remove(0);
    }
    words.join(" ")
}

fn value_match(label: &str, got: &str) -> bool {
    let (a, b) = (norm(label), norm(got));
    if a == "yes" {
        return true;
    }
    if a.is_empty() || b.is_empty() {
        return false;
    }
    a == b
        || format!(" {b} ").contains(&format!(" {a} "))
        || format!(" {a} ").contains(&format!(" {b} "))
}

fn fact_match(label: &Label, fact: &LiveFact, strict: bool) -> bool {
    let label_key = label.key.to_lowercase();
    let fact_key = fact.key.as_str();
    let same_key = if strict {
        label_key == fact_key
    } else {
        label_key.split('.').next() == fact_key.split('.').next()
    };
    same_key && value_match(&label.value, fact.value.as_str())
}

/// Runs every session of a case through extractor, `decide` and the aggregate.
async fn run_case(extractor: &RulesExtractor, case: &Case) -> Vec<LiveFact> {
    let mut memory = UserMemory::default();
    for session in &case.sessions {
        let messages = session
            .iter()
            .map(|m| {
                let role = match m.role.as_str() {
                    "assistant" => Role::Assistant,
                    "system" => Role::System,
                    _ => Role::User,
                };
                ChatMessage::new(role, &m.content).expect("a valid message")
            })
            .collect();
        let conversation = Conversation::new(messages).expect("a valid conversation");
        let candidates = extractor
            .extract(&conversation)
            .await
            .expect("the rules extractor does not fail");
        let job_id = JobId::generate();
        let operations = decide(candidates, &memory, job_id);
        let mut next = memory.clone();
        let sink = EventSink::default();
        next.handle(
            UserMemoryCommand::ApplyExtraction { job_id, operations },
            &(),
            &sink,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: the aggregate refused the batch: {e}", case.id));
        memory = next;
    }
    memory.live_facts().values().cloned().collect()
}

fn show(fact: &LiveFact) -> String {
    format!("{}={}", fact.key, fact.value)
}

/// Scores one case, printing it when it is not perfect, like the scorer does.
fn score_case(case: &Case, facts: &[LiveFact], strict: bool, score: &mut Score) {
    let hit: Vec<bool> = case
        .expect
        .iter()
        .map(|l| facts.iter().any(|f| fact_match(l, f, strict)))
        .collect();
    let useful = facts
        .iter()
        .filter(|f| case.expect.iter().any(|l| fact_match(l, f, strict)))
        .count();
    let bad: Vec<&Label> = case
        .absent
        .iter()
        .filter(|l| facts.iter().any(|f| fact_match(l, f, false)))
        .collect();
    let extra = facts.len() - useful;
    let too_many = case.max_live_facts.is_some_and(|max| facts.len() > max);
    let hits = hit.iter().filter(|h| **h).count();
    score.tp += hits;
    score.fn_ += hit.len() - hits;
    score.fp += extra;
    score.forbidden += bad.len() + usize::from(too_many);
    if hits < hit.len() || !bad.is_empty() || extra > 0 || too_many {
        let missed: Vec<String> = case
            .expect
            .iter()
            .zip(&hit)
            .filter(|(_, h)| !**h)
            .map(|(l, _)| format!("{}={}", l.key, l.value))
            .collect();
        let forbidden: Vec<String> = bad
            .iter()
            .map(|l| format!("{}={}", l.key, l.value))
            .collect();
        let got: Vec<String> = facts.iter().map(show).collect();
        println!(
            "{}{}: missed={missed:?} forbidden={forbidden:?} got={got:?}",
            case.id,
            if strict { " (strict)" } else { "" },
        );
    }
}

/// Scores every case of the set at `path`, printing the imperfect ones and the totals.
async fn score_set(path: &str) -> Score {
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<Case> = source
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a case per line"))
        .collect();
    assert!(!cases.is_empty(), "{path} holds no case");

    let extractor = RulesExtractor::new();
    let mut results = BTreeMap::new();
    for case in &cases {
        results.insert(case.id.clone(), run_case(&extractor, case).await);
    }
    let mut lenient = Score::default();
    let mut strict = Score::default();
    for case in &cases {
        let facts = &results[&case.id];
        score_case(case, facts, false, &mut lenient);
        score_case(case, facts, true, &mut strict);
    }
    for (name, score) in [("family", &lenient), ("strict", &strict)] {
        println!(
            "{name}: cases={} tp={} fp={} fn={} forbidden={} precision={:.3} recall={:.3} f1={:.3}",
            cases.len(),
            score.tp,
            score.fp,
            score.fn_,
            score.forbidden,
            score.precision(),
            score.recall(),
            score.f1(),
        );
    }
    lenient
}

#[tokio::test]
async fn extraction_scores_on_the_labelled_set() {
    let path = std::env::var("PIKA_EXTRACTION_EVAL").unwrap_or_else(|_| DEV_SET.to_owned());
    let score = score_set(&path).await;
    assert_eq!(score.forbidden, 0, "facts the set forbids were stored");
    assert!(score.f1() >= 0.95, "f1 {:.3} is below 0.95", score.f1());
}

/// Corrections, changes over time, Vietnamese without marks, mixed languages, lists, reasons
/// and traps, as children type them: no corrected or forbidden value may stay live.
#[tokio::test]
async fn extraction_scores_on_natural_child_speech() {
    let score = score_set(NATURAL_SET).await;
    assert_eq!(score.forbidden, 0, "facts the set forbids were stored");
    assert!(score.f1() >= 0.9, "f1 {:.3} is below 0.9", score.f1());
}

#[test]
fn the_scorer_normalises_like_the_python_one() {
    assert_eq!(norm("The  Dolphin!"), "dolphin");
    assert_eq!(norm("màu xanh dương"), "xanh dương");
    assert_eq!(norm("my"), "my");
    assert!(value_match(
        "Nguyen Du Primary School",
        "nguyen du primary school"
    ));
    assert!(value_match("Kim Đồng", "Trường Kim Đồng"));
    assert!(value_match("yes", "anything"));
    assert!(!value_match("cat", "catfish"));
    let fact = LiveFact {
        key: FactKey::parse("likes.activity").expect("a key"),
        value: FactValue::parse("swimming").expect("a value"),
        text: pika_domain::FactText::parse("Likes swimming").expect("a text"),
        version: 1,
    };
    let label = Label {
        key: "likes.sport".into(),
        value: "Swimming".into(),
    };
    assert!(fact_match(&label, &fact, false));
    assert!(!fact_match(&label, &fact, true));
}
