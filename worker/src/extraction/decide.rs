//! Turning an extractor's candidates into the operations of one `ApplyExtraction`.
//!
//! The aggregate already turns an `Add` on a single-valued key into an update, treats a value
//! it holds as a no-op and retracts the opposite like or dislike. What it cannot know is how
//! the candidates of one conversation relate to each other ("I'm 7 … oh wait, I just turned
//! 8") and which live facts a negation means; that is decided here, without I/O, so it can be
//! tested on its own.

use std::collections::BTreeSet;

use pika_domain::{
    Cardinality, FactCandidate, FactId, FactKey, FactOperation, FactSource, FactValue, JobId,
    RetractReason, UserMemory, fold_for_match,
};

use super::{Candidate, Polarity};

/// The operations for one job: retractions of live facts the user negated first, then one
/// `Add` per remaining assertion.
///
/// Retractions come first because an `Add` may itself retract a contradicted fact in the
/// aggregate, and retracting a fact twice is an error; no fact id appears twice.
pub fn decide(
    candidates: Vec<Candidate>,
    memory: &UserMemory,
    job_id: JobId,
) -> Vec<FactOperation> {
    let (asserts, negations) = settle_batch(candidates, memory);
    let mut retracted = BTreeSet::new();
    let mut operations = Vec::new();
    for negation in &negations {
        for (fact_id, fact) in memory.live_facts() {
            if negates(negation, &fact.key, &fact.value) && retracted.insert(*fact_id) {
                operations.push(FactOperation::Retract {
                    fact_id: *fact_id,
                    reason: RetractReason::Negated,
                });
            }
        }
    }
    for assert in asserts {
        let Some(value) = assert.value else {
            continue;
        };
        operations.push(FactOperation::Add {
            fact_id: FactId::generate(),
            candidate: FactCandidate {
                key: assert.key,
                value,
                text: assert.text,
                confidence: assert.confidence,
                language: assert.language,
                source: FactSource {
                    job_id: Some(job_id),
                    message_indexes: assert.message_indexes,
                },
            },
        });
    }
    // The aggregate refuses a batch over its limit outright; keeping the first operations
    // (retractions, then facts in the order they were said) lets the job still succeed.
    operations.truncate(UserMemory::MAX_OPERATIONS);
    operations
}

/// Resolves the candidates of one conversation against each other, in the order they were
/// said: the last value of a single-valued key wins, repeated facts collapse into one, a
/// negation cancels what was asserted before it and a later assertion cancels the negation,
/// and a like is dropped when the same thing is a favourite, in this batch or already live.
fn settle_batch(
    candidates: Vec<Candidate>,
    memory: &UserMemory,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let mut asserts: Vec<Candidate> = Vec::new();
    let mut negations: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        match candidate.polarity {
            Polarity::Negate => {
                asserts.retain(|a| {
                    !a.value
                        .as_ref()
                        .is_some_and(|value| negates(&candidate, &a.key, value))
                });
                negations.push(candidate);
            }
            Polarity::Assert => {
                let Some(value) = candidate.value.as_ref() else {
                    continue;
                };
                negations.retain(|n| {
                    n.value.is_none()
                        || n.key.family() != candidate.key.family()
                        || !n.value.as_ref().is_some_and(|v| same_value(v, value))
                });
                if candidate.key.cardinality() == Cardinality::Single {
                    asserts.retain(|a| a.key != candidate.key);
                } else if let Some(earlier) = asserts.iter_mut().find(|a| {
                    a.key == candidate.key
                        && a.value
                            .as_ref()
                            .is_some_and(|v| v.match_key() == value.match_key())
                }) {
                    for index in &candidate.message_indexes {
                        if !earlier.message_indexes.contains(index) {
                            earlier.message_indexes.push(*index);
                        }
                    }
                    if candidate.confidence > earlier.confidence {
                        earlier.confidence = candidate.confidence;
                    }
                    continue;
                }
                asserts.push(candidate);
            }
        }
    }
    let live_favourites = memory
        .live_facts()
        .values()
        .filter(|f| f.key.family() == "favorite")
        .map(|f| f.value.match_key());
    let favourites: Vec<String> = asserts
        .iter()
        .filter(|a| a.key.family() == "favorite")
        .filter_map(|a| a.value.as_ref().map(FactValue::match_key))
        .chain(live_favourites)
        .collect();
    asserts.retain(|a| {
        a.key.family() != "likes"
            || !a
                .value
                .as_ref()
                .is_some_and(|v| favourites.contains(&v.match_key()))
    });
    (asserts, negations)
}

/// Whether a negation applies to a fact: the same key family and the same value (equal, or
/// one holding the other as whole words); a negation without a value applies to every fact
/// whose key is the negated key or under it (`pet` covers `pet.dog`).
fn negates(negation: &Candidate, key: &FactKey, value: &FactValue) -> bool {
    match &negation.value {
        None => {
            let negated = negation.key.as_str();
            key.as_str() == negated
                || key
                    .as_str()
                    .strip_prefix(negated)
                    .is_some_and(|rest| rest.starts_with('.'))
        }
        Some(negated) => key.family() == negation.key.family() && same_value(negated, value),
    }
}

/// Equal under `fold_for_match`, or one contains the other as whole words, so "piano"
/// matches "the piano" but "cat" does not match "catfish".
fn same_value(a: &FactValue, b: &FactValue) -> bool {
    let a = words(&fold_for_match(a.as_str()));
    let b = words(&fold_for_match(b.as_str()));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    contains_words(&a, &b) || contains_words(&b, &a)
}

fn words(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn contains_words(haystack: &[String], needle: &[String]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pika_domain::{Confidence, FactText, Language, UserMemoryEvent};

    fn candidate(key: &str, value: Option<&str>, polarity: Polarity, index: u32) -> Candidate {
        Candidate {
            key: FactKey::parse(key).expect("a valid key"),
            value: value.map(|v| FactValue::parse(v).expect("a valid value")),
            text: FactText::parse(&format!("{key} {value:?}")).expect("a valid text"),
            confidence: Confidence::new(0.9).expect("a valid confidence"),
            language: Language::parse("en").expect("a valid language"),
            polarity,
            message_indexes: vec![index],
        }
    }

    fn assert(key: &str, value: &str) -> Candidate {
        candidate(key, Some(value), Polarity::Assert, 0)
    }

    fn negate(key: &str, value: Option<&str>) -> Candidate {
        candidate(key, value, Polarity::Negate, 1)
    }

    /// A memory holding the given facts, built through the aggregate's own events.
    fn memory(facts: &[(&str, &str)]) -> (UserMemory, Vec<FactId>) {
        use cqrs_es::Aggregate;
        let mut memory = UserMemory::default();
        let mut ids = Vec::new();
        for (key, value) in facts {
            let key = FactKey::parse(key).expect("a valid key");
            let fact_id = FactId::generate();
            ids.push(fact_id);
            memory.apply(UserMemoryEvent::FactAdded {
                fact_id,
                kind: key.kind(),
                key,
                value: FactValue::parse(value).expect("a valid value"),
                text: FactText::parse("t").expect("a valid text"),
                confidence: Confidence::CERTAIN,
                language: Language::parse("en").expect("a valid language"),
                source: FactSource::default(),
            });
        }
        (memory, ids)
    }

    fn added(operations: &[FactOperation]) -> Vec<String> {
        operations
            .iter()
            .filter_map(|op| match op {
                FactOperation::Add { candidate, .. } => {
                    Some(format!("{}={}", candidate.key, candidate.value))
                }
                _ => None,
            })
            .collect()
    }

    fn retracted(operations: &[FactOperation]) -> Vec<FactId> {
        operations
            .iter()
            .filter_map(|op| match op {
                FactOperation::Retract { fact_id, .. } => Some(*fact_id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_last_value_of_a_single_valued_key_wins() {
        let (memory, _) = memory(&[]);
        let ops = decide(
            vec![
                assert("age", "7"),
                assert("likes.food", "pizza"),
                assert("age", "8"),
            ],
            &memory,
            JobId::generate(),
        );
        assert_eq!(added(&ops), ["likes.food=pizza", "age=8"]);
    }

    #[test]
    fn repeated_facts_collapse_and_likes_give_way_to_favourites() {
        let (memory, _) = memory(&[]);
        let mut again = assert("likes.food", "Pizza");
        again.message_indexes = vec![3];
        let ops = decide(
            vec![
                assert("likes.food", "pizza"),
                again,
                assert("favorite.subject", "math"),
                assert("likes.subject", "math"),
            ],
            &memory,
            JobId::generate(),
        );
        assert_eq!(added(&ops), ["likes.food=pizza", "favorite.subject=math"]);
        let FactOperation::Add { candidate, .. } = &ops[0] else {
            panic!("expected an add");
        };
        assert_eq!(candidate.source.message_indexes, [0, 3]);
    }

    #[test]
    fn a_like_of_a_live_favourite_adds_nothing() {
        let (memory, _) = memory(&[("favorite.food", "Pizza")]);
        let ops = decide(
            vec![assert("likes.food", "pizza"), assert("likes.food", "rice")],
            &memory,
            JobId::generate(),
        );
        assert_eq!(added(&ops), ["likes.food=rice"]);
    }

    #[test]
    fn negations_retract_matching_live_facts_once_and_first() {
        let (memory, ids) = memory(&[
            ("likes.activity", "the piano"),
            ("pet.hamster", "Bean"),
            ("pet.dog", "Max"),
            ("dislikes.activity", "piano"),
            ("likes.activity", "piano lessons extra"),
        ]);
        let ops = decide(
            vec![
                assert("likes.food", "rice"),
                negate("likes.activity", Some("piano")),
                negate("pet.hamster", Some("Bean")),
                negate("pet", None),
            ],
            &memory,
            JobId::generate(),
        );
        let gone = retracted(&ops);
        assert_eq!(gone.len(), 4);
        for expected in [ids[0], ids[1], ids[2], ids[4]] {
            assert!(gone.contains(&expected));
        }
        assert!(!gone.contains(&ids[3]), "a dislike is another family");
        assert!(matches!(ops.last(), Some(FactOperation::Add { .. })));
    }

    #[test]
    fn a_negation_cancels_an_earlier_assert_and_a_later_assert_cancels_it() {
        let (memory, ids) = memory(&[("likes.food", "pizza")]);
        let ops = decide(
            vec![
                assert("likes.activity", "chess"),
                negate("likes.activity", Some("chess")),
                negate("likes.food", Some("pizza")),
                assert("likes.food", "pizza"),
            ],
            &memory,
            JobId::generate(),
        );
        assert!(!retracted(&ops).contains(&ids[0]));
        assert_eq!(added(&ops), ["likes.food=pizza"]);
    }

    #[test]
    fn values_match_as_whole_words_only() {
        let (memory, _) = memory(&[("pet.cat", "catfish"), ("likes.food", "Phở bò")]);
        let ops = decide(
            vec![
                negate("pet", Some("cat")),
                negate("likes.food", Some("pho")),
            ],
            &memory,
            JobId::generate(),
        );
        assert_eq!(retracted(&ops).len(), 1);
    }
}
