//! Ranking one user's live facts for a query (the L4 layer): exact cosine over the stored
//! vectors, fused by reciprocal rank with a BM25 keyword match, so a name or a number the
//! embedding model does not know ("Milu", "lớp 3") is still found.

use std::collections::HashMap;
use std::sync::Arc;

use pika_domain::fold_for_match;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fact_record::FactRecord;

/// Reciprocal-rank-fusion constant: larger flattens the difference between ranks.
const RRF_K: f64 = 60.0;
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// Words of the value count this many times: the value is what a query most often names.
const VALUE_BOOST: usize = 2;
/// Below this cosine a fact is not considered semantically related at all.
const MIN_COSINE: f32 = 0.15;

/// A fact ready to be ranked: its record, its vector and its words.
#[derive(Debug, Clone)]
pub struct IndexedFact {
    pub record: FactRecord,
    pub embedding: Option<Vec<f32>>,
    words: Vec<String>,
    /// The log position of the fact's last change: a refresh keeps a fact whose position has
    /// not moved and reads again only those that have.
    pub position: i64,
}

/// Case-, accent- and punctuation-insensitive words, so "Phở", "pho" and "phở!" match.
pub fn words(text: &str) -> Vec<String> {
    fold_for_match(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

impl IndexedFact {
    pub fn new(record: FactRecord, embedding: Option<Vec<f32>>) -> Self {
        let mut all = words(&record.key.replace(['.', '_'], " "));
        all.extend(words(&record.text));
        let value = words(&record.value);
        for _ in 0..VALUE_BOOST {
            all.extend(value.iter().cloned());
        }
        Self {
            record,
            embedding,
            words: all,
            position: 0,
        }
    }

    #[must_use]
    pub fn at_position(mut self, position: i64) -> Self {
        self.position = position;
        self
    }
}

/// Which facts a search may return.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    pub kinds: Option<Vec<String>>,
    /// Exact keys, or a family with a trailing `.*` (`likes.*`).
    pub keys: Option<Vec<String>>,
}

impl SearchFilter {
    fn allows(&self, fact: &FactRecord) -> bool {
        let kind_ok = self
            .kinds
            .as_ref()
            .is_none_or(|kinds| kinds.contains(&fact.kind));
        let key_ok = self.keys.as_ref().is_none_or(|keys| {
            keys.iter().any(|k| match k.strip_suffix(".*") {
                Some(family) => fact.key == family || fact.key.starts_with(&format!("{family}.")),
                None => *k == fact.key,
            })
        });
        kind_ok && key_ok
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredFact {
    #[serde(flatten)]
    pub fact: FactRecord,
    /// Fused relevance in [0, 1]: 1 is first by both meaning and words.
    pub score: f64,
}

/// Dot product of two unit vectors. Eight running sums let the compiler use SIMD lanes (one
/// sum would be a chain of dependent additions): cosine over a user's facts is most of a
/// search's ranking time.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let mut sums = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Word statistics BM25 needs over a set of facts.
#[derive(Debug, Clone, Default)]
struct WordStats {
    document_frequency: HashMap<String, u32>,
    average_length: f64,
    documents: usize,
}

impl WordStats {
    fn of<'a>(facts: impl Iterator<Item = &'a IndexedFact>) -> Self {
        let mut stats = Self::default();
        let mut total_length = 0;
        for fact in facts {
            stats.documents += 1;
            total_length += fact.words.len();
            let mut seen: Vec<&str> = fact.words.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for word in seen {
                *stats.document_frequency.entry(word.to_owned()).or_default() += 1;
            }
        }
        stats.average_length = total_length as f64 / stats.documents.max(1) as f64;
        stats
    }
}

/// One user's facts ready to rank, with their word statistics computed once when loaded
/// rather than on every search.
#[derive(Debug, Clone, Default)]
pub struct UserIndex {
    /// Shared with the refreshed indexes that still hold them, so a refresh copies no vector.
    facts: Vec<Arc<IndexedFact>>,
    stats: WordStats,
}

/// What a refresh must read again: the facts that are new or changed since an index was
/// loaded, given the user's facts now as (fact id, position of its last change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexChanges {
    pub to_read: Vec<Uuid>,
    /// Facts in the old index and still live, unchanged.
    pub kept: usize,
}

impl UserIndex {
    pub fn new(facts: Vec<IndexedFact>) -> Self {
        Self::of_shared(facts.into_iter().map(Arc::new).collect())
    }

    /// Facts in id order: ties in ranking then fall the same way whichever way the index was
    /// made (read whole, refreshed, on another process or backend).
    fn of_shared(mut facts: Vec<Arc<IndexedFact>>) -> Self {
        facts.sort_unstable_by_key(|f| f.record.fact_id);
        let stats = WordStats::of(facts.iter().map(AsRef::as_ref));
        Self { facts, stats }
    }

    pub fn facts(&self) -> impl ExactSizeIterator<Item = &IndexedFact> {
        self.facts.iter().map(AsRef::as_ref)
    }

    /// Which of `current` (every live fact of the user with its position) this index lacks
    /// or holds at another position.
    pub fn changes(&self, current: &[(Uuid, i64)]) -> IndexChanges {
        let held: HashMap<Uuid, i64> = self
            .facts
            .iter()
            .map(|f| (f.record.fact_id, f.position))
            .collect();
        let mut changes = IndexChanges::default();
        for (id, position) in current {
            if held.get(id) == Some(position) {
                changes.kept += 1;
            } else {
                changes.to_read.push(*id);
            }
        }
        changes
    }

    /// The index of the user's facts now: `current` lists every live fact with its position
    /// (a fact missing from it was retracted or forgotten and is dropped), `read` holds the
    /// facts [`UserIndex::changes`] said to read again, as read (possibly newer still). A
    /// fact neither held at its position nor read is left out: it went between the listing
    /// and the read.
    #[must_use]
    pub fn refreshed(&self, current: &[(Uuid, i64)], read: Vec<IndexedFact>) -> Self {
        let held: HashMap<Uuid, &Arc<IndexedFact>> =
            self.facts.iter().map(|f| (f.record.fact_id, f)).collect();
        let mut read: HashMap<Uuid, Arc<IndexedFact>> = read
            .into_iter()
            .map(|f| (f.record.fact_id, Arc::new(f)))
            .collect();
        let facts = current
            .iter()
            .filter_map(|(id, position)| {
                read.remove(id).or_else(|| {
                    held.get(id)
                        .filter(|f| f.position == *position)
                        .map(|f| Arc::clone(f))
                })
            })
            .collect();
        Self::of_shared(facts)
    }
}

/// BM25 of each fact for the query words, over this user's facts only (so words every fact
/// shares, like "my" or "em", weigh nothing).
fn keyword_scores(facts: &[&IndexedFact], stats: &WordStats, query: &[String]) -> Vec<f64> {
    if query.is_empty() || facts.is_empty() {
        return vec![0.0; facts.len()];
    }
    let n = stats.documents as f64;
    let weights: Vec<(&str, f64)> = query
        .iter()
        .filter_map(|term| {
            let df = f64::from(*stats.document_frequency.get(term.as_str())?);
            Some((term.as_str(), ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
        })
        .collect();
    facts
        .iter()
        .map(|fact| {
            let length = fact.words.len() as f64;
            weights
                .iter()
                .map(|(term, idf)| {
                    let frequency = fact.words.iter().filter(|w| w == term).count() as f64;
                    if frequency == 0.0 {
                        return 0.0;
                    }
                    idf * frequency * (BM25_K1 + 1.0)
                        / (frequency
                            + BM25_K1
                                * (1.0 - BM25_B + BM25_B * length / stats.average_length.max(1.0)))
                })
                .sum()
        })
        .collect()
}

/// Positions of the facts ordered by a score, best first, keeping only scores above `floor`.
fn ranking(scores: &[f64], floor: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|i| scores[*i] > floor).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    order
}

/// Ranks a user's facts for a query. `query_vector` is `None` when no embedding could be
/// made (the embedder is down): the keyword match alone then ranks.
pub fn rank(
    index: &UserIndex,
    query: &str,
    query_vector: Option<&[f32]>,
    filter: &SearchFilter,
    limit: usize,
    min_score: f64,
) -> Vec<ScoredFact> {
    let candidates: Vec<&IndexedFact> =
        index.facts().filter(|f| filter.allows(&f.record)).collect();
    let query_words = words(query);
    // A filter narrows the collection BM25 is computed over, as if only those facts existed.
    let filtered;
    let stats = if candidates.len() == index.facts.len() {
        &index.stats
    } else {
        filtered = WordStats::of(candidates.iter().copied());
        &filtered
    };
    let keyword = keyword_scores(&candidates, stats, &query_words);
    let semantic: Vec<f64> = candidates
        .iter()
        .map(|f| match (query_vector, &f.embedding) {
            (Some(q), Some(e)) => f64::from(cosine(q, e)),
            _ => 0.0,
        })
        .collect();
    let mut fused = vec![0.0; candidates.len()];
    let lists = [
        ranking(&semantic, f64::from(MIN_COSINE)),
        ranking(&keyword, 0.0),
    ];
    for list in &lists {
        for (rank, index) in list.iter().enumerate() {
            fused[*index] += 1.0 / (RRF_K + rank as f64 + 1.0);
        }
    }
    let best_possible =
        lists.iter().filter(|l| !l.is_empty()).count().max(1) as f64 / (RRF_K + 1.0);
    let mut order = ranking(&fused, 0.0);
    order.truncate(limit);
    order
        .into_iter()
        .map(|index| ScoredFact {
            fact: candidates[index].record.clone(),
            score: (fused[index] / best_possible).min(1.0),
        })
        .filter(|scored| scored.score >= min_score)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact_record::FactSourceRecord;

    fn fact(key: &str, value: &str, text: &str, embedding: Option<Vec<f32>>) -> IndexedFact {
        let record = FactRecord {
            fact_id: uuid::Uuid::now_v7(),
            user_id: "kid".into(),
            key: key.into(),
            kind: if key.starts_with("pet") {
                "relationship"
            } else {
                "preference"
            }
            .into(),
            value: value.into(),
            text: text.into(),
            confidence: 0.9,
            language: "en".into(),
            source: FactSourceRecord {
                job_id: None,
                message_indexes: vec![],
            },
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        IndexedFact::new(record, embedding)
    }

    fn index(facts: Vec<IndexedFact>) -> UserIndex {
        UserIndex::new(facts)
    }

    fn many() -> Vec<IndexedFact> {
        let mut facts: Vec<IndexedFact> = (0..200)
            .map(|n| {
                fact(
                    "likes.thing",
                    &format!("thing {n}"),
                    &format!("I like thing {n}"),
                    None,
                )
            })
            .collect();
        facts.push(fact(
            "pet.dog",
            "Milu",
            "Em có một con chó tên là Milu",
            None,
        ));
        facts.push(fact(
            "favorite.food",
            "phở",
            "Món em thích nhất là phở",
            None,
        ));
        facts
    }

    #[test]
    fn a_name_the_embedding_does_not_know_is_found_by_its_words() {
        let facts = index(many());
        let results = rank(&facts, "Milu", None, &SearchFilter::default(), 3, 0.0);
        assert_eq!(results[0].fact.value, "Milu");
        let results = rank(
            &facts,
            "con chó tên gì",
            None,
            &SearchFilter::default(),
            3,
            0.0,
        );
        assert_eq!(results[0].fact.value, "Milu");
        let results = rank(&facts, "PHO", None, &SearchFilter::default(), 3, 0.0);
        assert_eq!(results[0].fact.value, "phở", "accents and case folded");
    }

    #[test]
    fn cosine_in_lanes_equals_the_plain_sum() {
        let a: Vec<f32> = (0..387).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
        let b: Vec<f32> = (0..387).map(|i| ((i * 5) % 11) as f32 / 11.0).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((cosine(&a, &b) - plain).abs() < 1e-3);
        assert_eq!(cosine(&a, &b[..10]), 0.0, "different lengths never match");
    }

    #[test]
    fn a_filter_ranks_words_among_the_filtered_facts_only() {
        let facts = index(many());
        let filter = SearchFilter {
            kinds: Some(vec!["preference".into()]),
            ..SearchFilter::default()
        };
        let results = rank(&facts, "phở thing", None, &filter, 3, 0.0);
        assert!(results.iter().all(|r| r.fact.kind == "preference"));
        assert_eq!(
            results[0].fact.value, "phở",
            "the rarer word wins among the filtered"
        );
    }

    #[test]
    fn meaning_ranks_when_no_word_is_shared() {
        let mut facts = many();
        facts.push(fact(
            "pet.cat",
            "Mochi",
            "I have a cat named Mochi",
            Some(vec![1.0, 0.0]),
        ));
        facts.push(fact(
            "likes.sport",
            "football",
            "I love football",
            Some(vec![0.0, 1.0]),
        ));
        let facts = index(facts);
        let results = rank(
            &facts,
            "kitty",
            Some(&[0.9, 0.1]),
            &SearchFilter::default(),
            3,
            0.0,
        );
        assert_eq!(results[0].fact.value, "Mochi");
        assert!(results[0].score > 0.0 && results[0].score <= 1.0);
    }

    #[test]
    fn filters_limits_and_min_score_apply() {
        let facts = index(many());
        let filter = SearchFilter {
            keys: Some(vec!["pet.*".into()]),
            ..SearchFilter::default()
        };
        let results = rank(&facts, "thing 5 Milu", None, &filter, 10, 0.0);
        assert!(results.iter().all(|r| r.fact.key.starts_with("pet")));
        assert_eq!(
            rank(&facts, "thing", None, &SearchFilter::default(), 5, 0.0).len(),
            5
        );
        assert!(rank(&facts, "thing", None, &SearchFilter::default(), 5, 1.1).is_empty());
        assert!(rank(&facts, "", None, &SearchFilter::default(), 5, 0.0).is_empty());
    }

    fn values(index: &UserIndex) -> Vec<String> {
        let mut values: Vec<String> = index.facts().map(|f| f.record.value.clone()).collect();
        values.sort();
        values
    }

    #[test]
    fn a_refresh_reads_only_new_and_changed_facts_and_drops_gone_ones() {
        let kept = fact("likes.food", "pho", "likes pho", None).at_position(1);
        let changed = fact("pet.dog", "Max", "dog Max", None).at_position(2);
        let gone = fact("likes.color", "blue", "likes blue", None).at_position(3);
        let ids = [
            kept.record.fact_id,
            changed.record.fact_id,
            gone.record.fact_id,
        ];
        let old = index(vec![kept, changed.clone(), gone]);
        let added = fact("pet.cat", "Mochi", "cat Mochi", None).at_position(6);
        let current = [(ids[0], 1), (ids[1], 5), (added.record.fact_id, 6)];

        let changes = old.changes(&current);
        assert_eq!(changes.kept, 1);
        assert_eq!(changes.to_read, vec![ids[1], added.record.fact_id]);

        let mut corrected = changed.record;
        corrected.value = "Maximus".into();
        let corrected = IndexedFact::new(corrected, None).at_position(5);
        let fresh = old.refreshed(&current, vec![corrected, added]);
        assert_eq!(values(&fresh), ["Maximus", "Mochi", "pho"]);
        assert!(rank(&fresh, "blue", None, &SearchFilter::default(), 5, 0.0).is_empty());
        assert_eq!(
            rank(&fresh, "Maximus", None, &SearchFilter::default(), 5, 0.0)[0]
                .fact
                .value,
            "Maximus"
        );
    }

    #[test]
    fn a_fact_read_newer_than_listed_is_served_as_read_and_one_gone_meanwhile_is_left_out() {
        let held = fact("pet.dog", "Max", "dog Max", None).at_position(2);
        let listed_only = fact("pet.cat", "Mochi", "cat Mochi", None).at_position(4);
        let old = index(vec![held.clone()]);
        let current = [(held.record.fact_id, 3), (listed_only.record.fact_id, 4)];
        let mut newer = held.record;
        newer.value = "Rex".into();
        // Changed again between the listing and the read; the new fact was retracted
        // between them, so the read did not return it.
        let fresh = old.refreshed(&current, vec![IndexedFact::new(newer, None).at_position(7)]);
        assert_eq!(values(&fresh), ["Rex"]);
    }
}
