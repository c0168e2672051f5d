//! Ranking one user's memories — live facts and conversation turns, as one list — for a query
//! (the L4 layer): exact cosine over the stored vectors, fused by reciprocal rank with a BM25
//! keyword match, so a name or a number the embedding model does not know ("Milu", "lớp 3")
//! is still found.

mod index;

use index::{Document, WordStats};
pub use index::{EpisodeRefresh, IndexChanges, IndexedEpisode, IndexedFact, UserIndex};

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use pika_domain::fold_for_match;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::episodes::EpisodeRecord;
use crate::fact_record::FactRecord;

/// Reciprocal-rank-fusion constant: larger flattens the difference between ranks.
const RRF_K: f64 = 60.0;
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// Below this cosine a memory is not considered semantically related at all.
const MIN_COSINE: f32 = 0.15;
/// At this cosine (and above) a memory counts as fully related in meaning: a paraphrase
/// ("I love eating pizza" / "My favourite food is pizza") scores about 0.8.
const FULL_COSINE: f64 = 0.6;

/// Case-, accent- and punctuation-insensitive words, so "Phở", "pho" and "phở!" match.
pub fn words(text: &str) -> Vec<String> {
    fold_for_match(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Which memories a search may return.
#[derive(Debug, Clone)]
pub struct SearchFilter {
    pub kinds: Option<Vec<String>>,
    /// Exact keys, or a family with a trailing `.*` (`likes.*`).
    pub keys: Option<Vec<String>>,
    pub facts: bool,
    /// Conversation turns; a filter on kinds or keys asks for facts, so it leaves turns out.
    pub episodes: bool,
    /// Facts learned, or turns said, at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// … and at or before this one.
    pub until: Option<DateTime<Utc>>,
    /// Turns of the same conversation shown around each turn found, on each side.
    pub context: usize,
}

impl Default for SearchFilter {
    fn default() -> Self {
        Self {
            kinds: None,
            keys: None,
            facts: true,
            episodes: true,
            since: None,
            until: None,
            context: 0,
        }
    }
}

impl SearchFilter {
    fn in_window(&self, at: DateTime<Utc>) -> bool {
        self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at <= until)
    }

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
        self.facts && kind_ok && key_ok && self.in_window(fact.created_at)
    }

    fn allows_episode(&self, episode: &EpisodeRecord) -> bool {
        self.episodes
            && self.kinds.is_none()
            && self.keys.is_none()
            && self.in_window(episode.occurred_at)
    }

    /// Everything that changes which memories are candidates, for cache keys.
    pub fn fingerprint(&self) -> String {
        format!(
            "{:?}\n{:?}\n{}{}\n{:?}\n{:?}\n{}",
            self.kinds, self.keys, self.facts, self.episodes, self.since, self.until, self.context
        )
    }
}

/// A ranked memory as a search answers it, tagged with its `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScoredMemory {
    Fact {
        #[serde(flatten)]
        fact: FactRecord,
        /// Relevance in [0, 1], comparable across queries: how close in meaning (cosine 0.15
        /// → 0, 0.6 and above → 1) or how much of the query's weight in words the memory
        /// holds, whichever is higher; never above a result ranked before it.
        score: f64,
    },
    Episode {
        #[serde(flatten)]
        episode: EpisodeRecord,
        score: f64,
        /// The turns around it in its conversation, in order, when asked for.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        context: Vec<EpisodeRecord>,
    },
}

impl ScoredMemory {
    pub fn score(&self) -> f64 {
        match self {
            Self::Fact { score, .. } | Self::Episode { score, .. } => *score,
        }
    }
}

/// Dot product of two unit vectors. Eight running sums let the compiler use SIMD lanes (one
/// sum would be a chain of dependent additions): cosine over a user's memories is most of a
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

/// BM25 of each candidate for the query words, over this user's memories only (so words every
/// memory shares, like "my" or "em", weigh nothing).
fn keyword_scores(candidates: &[Candidate<'_>], stats: &WordStats, query: &[String]) -> Vec<f64> {
    if query.is_empty() || candidates.is_empty() {
        return vec![0.0; candidates.len()];
    }
    let n = stats.documents as f64;
    let weights: Vec<(&str, f64)> = query
        .iter()
        .filter_map(|term| {
            let df = f64::from(*stats.document_frequency.get(term.as_str())?);
            Some((term.as_str(), ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
        })
        .collect();
    candidates
        .iter()
        .map(|candidate| {
            let words = candidate.document().words();
            let length = words.len() as f64;
            weights
                .iter()
                .map(|(term, idf)| {
                    let frequency = words.iter().filter(|w| w == term).count() as f64;
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

/// How much of the query each candidate holds: the IDF weight of the query words it contains
/// over the weight of all of them, a word this user never used weighing as the rarest. So a
/// query of words no memory holds ("xyzzy") covers nothing, whatever ranks first.
fn keyword_coverage(candidates: &[Candidate<'_>], stats: &WordStats, query: &[String]) -> Vec<f64> {
    let mut terms: Vec<&str> = query.iter().map(String::as_str).collect();
    terms.sort_unstable();
    terms.dedup();
    let n = stats.documents as f64;
    let idf = |df: f64| ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
    let weights: Vec<(&str, f64)> = terms
        .iter()
        .map(|term| {
            let df = stats.document_frequency.get(*term).copied().unwrap_or(0);
            (*term, idf(f64::from(df)))
        })
        .collect();
    let total: f64 = weights.iter().map(|(_, weight)| weight).sum();
    if total <= 0.0 {
        return vec![0.0; candidates.len()];
    }
    candidates
        .iter()
        .map(|candidate| {
            let words = candidate.document().words();
            let held: f64 = weights
                .iter()
                .filter(|(term, _)| words.iter().any(|w| w == term))
                .map(|(_, weight)| weight)
                .sum();
            held / total
        })
        .collect()
}

/// Positions of the candidates ordered by a score, best first, keeping only scores above
/// `floor`.
fn ranking(scores: &[f64], floor: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|i| scores[*i] > floor).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    order
}

/// A memory a search may return.
#[derive(Debug, Clone, Copy)]
enum Candidate<'a> {
    Fact(&'a IndexedFact),
    Episode(&'a IndexedEpisode),
}

impl Candidate<'_> {
    fn document(&self) -> &dyn Document {
        match self {
            Self::Fact(fact) => *fact,
            Self::Episode(episode) => *episode,
        }
    }

    fn scored(&self, score: f64, turns: &Turns<'_>) -> ScoredMemory {
        match self {
            Self::Fact(fact) => ScoredMemory::Fact {
                fact: fact.record.clone(),
                score,
            },
            Self::Episode(episode) => ScoredMemory::Episode {
                episode: episode.record.clone(),
                score,
                context: turns.around(&episode.record),
            },
        }
    }
}

/// A user's turns by conversation and position, for showing the context of a turn found.
struct Turns<'a> {
    by_position: HashMap<(Uuid, i32), &'a EpisodeRecord>,
    width: i32,
}

impl<'a> Turns<'a> {
    fn of(index: &'a UserIndex, width: usize) -> Self {
        let by_position = if width == 0 {
            HashMap::new()
        } else {
            index
                .episodes()
                .map(|e| ((e.record.job_id, e.record.message_index), &e.record))
                .collect()
        };
        Self {
            by_position,
            width: i32::try_from(width).unwrap_or(i32::MAX),
        }
    }

    /// The turns within `width` of `turn` in its conversation, in order, without it.
    fn around(&self, turn: &EpisodeRecord) -> Vec<EpisodeRecord> {
        let first = turn.message_index.saturating_sub(self.width);
        let last = turn.message_index.saturating_add(self.width);
        (first..=last)
            .filter(|index| *index != turn.message_index)
            .filter_map(|index| self.by_position.get(&(turn.job_id, index)))
            .map(|record| (*record).clone())
            .collect()
    }
}

/// A fact and the turn it was stated in are not both shown: whichever ranks higher stands
/// for the other (the fact's `source` cites that turn).
#[derive(Debug, Default)]
struct CitedTurns {
    by_facts: HashSet<(Uuid, i32)>,
    shown: HashSet<(Uuid, i32)>,
}

impl CitedTurns {
    /// Whether `candidate` should be shown, noting the turns it stands for.
    fn admits(&mut self, candidate: &Candidate<'_>) -> bool {
        match candidate {
            Candidate::Fact(fact) => {
                let Some(job_id) = fact.record.source.job_id else {
                    return true;
                };
                let turns: Vec<(Uuid, i32)> = fact
                    .record
                    .source
                    .message_indexes
                    .iter()
                    .map(|index| (job_id, *index))
                    .collect();
                if !turns.is_empty() && turns.iter().all(|turn| self.shown.contains(turn)) {
                    return false;
                }
                self.by_facts.extend(turns);
                true
            }
            Candidate::Episode(episode) => {
                let turn = (episode.record.job_id, episode.record.message_index);
                self.shown.insert(turn);
                !self.by_facts.contains(&turn)
            }
        }
    }
}

/// How much of its best neighbour's relevance a turn takes on: an answer is often the turn
/// after the one that matches the question's words ("Did you go?" … "Yes, last Friday").
const NEIGHBOUR_SHARE: f64 = 0.5;

/// Each turn's value combined with its best adjacent turn's (same conversation, message index
/// ± 1) by `combine(own, neighbour)`; facts keep theirs.
fn with_neighbours(
    candidates: &[Candidate<'_>],
    fused: &[f64],
    combine: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let by_turn: HashMap<(Uuid, i32), f64> = candidates
        .iter()
        .zip(fused)
        .filter_map(|(candidate, score)| match candidate {
            Candidate::Episode(e) => Some(((e.record.job_id, e.record.message_index), *score)),
            Candidate::Fact(_) => None,
        })
        .collect();
    candidates
        .iter()
        .zip(fused)
        .map(|(candidate, score)| match candidate {
            Candidate::Episode(e) => {
                let (job, index) = (e.record.job_id, e.record.message_index);
                let neighbour = [index - 1, index + 1]
                    .iter()
                    .filter_map(|i| by_turn.get(&(job, *i)))
                    .fold(0.0_f64, |best, s| best.max(*s));
                combine(*score, neighbour)
            }
            Candidate::Fact(_) => *score,
        })
        .collect()
}

/// Ranks a user's memories for a query. `query_vector` is `None` when no embedding could be
/// made (the embedder is down): the keyword match alone then ranks.
pub fn rank(
    index: &UserIndex,
    query: &str,
    query_vector: Option<&[f32]>,
    filter: &SearchFilter,
    limit: usize,
    min_score: f64,
) -> Vec<ScoredMemory> {
    let candidates: Vec<Candidate<'_>> = index
        .facts()
        .filter(|f| filter.allows(&f.record))
        .map(Candidate::Fact)
        .chain(
            index
                .episodes()
                .filter(|e| filter.allows_episode(&e.record))
                .map(Candidate::Episode),
        )
        .collect();
    let query_words = words(query);
    // A filter narrows the collection BM25 is computed over, as if only those memories existed.
    let filtered;
    let stats = if candidates.len() == index.len() {
        &index.stats
    } else {
        filtered = WordStats::of(candidates.iter().map(Candidate::document));
        &filtered
    };
    let keyword = keyword_scores(&candidates, stats, &query_words);
    let semantic: Vec<f64> = candidates
        .iter()
        .map(|c| match (query_vector, c.document().embedding()) {
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
    let fused = with_neighbours(&candidates, &fused, |own, neighbour| {
        own + NEIGHBOUR_SHARE * neighbour
    });
    let coverage = keyword_coverage(&candidates, stats, &query_words);
    let relevance: Vec<f64> = semantic
        .iter()
        .zip(&coverage)
        .map(|(cos, covered)| {
            ((cos - f64::from(MIN_COSINE)) / (FULL_COSINE - f64::from(MIN_COSINE)))
                .clamp(0.0, 1.0)
                .max(*covered)
        })
        .collect();
    let relevance = with_neighbours(&candidates, &relevance, |own, neighbour| {
        own.max(NEIGHBOUR_SHARE * neighbour)
    });
    let mut cited = CitedTurns::default();
    let turns = Turns::of(index, filter.context);
    let mut ceiling = 1.0_f64;
    ranking(&fused, 0.0)
        .into_iter()
        .filter(|index| cited.admits(&candidates[*index]))
        .map(|index| {
            // Scores never rise down the list: ranking and score tell one story.
            ceiling = ceiling.min(relevance[index]);
            (candidates[index], ceiling)
        })
        .take_while(|(_, score)| *score >= min_score)
        .take(limit)
        .map(|(candidate, score)| candidate.scored(score, &turns))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fact as a facts-only search ranks it.
    struct Hit {
        fact: FactRecord,
        score: f64,
    }

    fn rank(
        index: &UserIndex,
        query: &str,
        vector: Option<&[f32]>,
        filter: &SearchFilter,
        limit: usize,
        min_score: f64,
    ) -> Vec<Hit> {
        super::rank(index, query, vector, filter, limit, min_score)
            .into_iter()
            .filter_map(|memory| match memory {
                ScoredMemory::Fact { fact, score } => Some(Hit { fact, score }),
                ScoredMemory::Episode { .. } => None,
            })
            .collect()
    }
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
        UserIndex::new(facts, vec![])
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
        let fresh = old.refreshed(
            &current,
            vec![corrected, added],
            EpisodeRefresh::Added(vec![]),
        );
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
        let read = vec![IndexedFact::new(newer, None).at_position(7)];
        let fresh = old.refreshed(&current, read, EpisodeRefresh::Added(vec![]));
        assert_eq!(values(&fresh), ["Rex"]);
    }

    fn turn(job: Uuid, index: i32, name: &str, content: &str, day: u32) -> IndexedEpisode {
        let record = EpisodeRecord {
            episode_id: crate::episodes::episode_id(job, index),
            job_id: job,
            message_index: index,
            role: "user".into(),
            name: Some(name.into()),
            content: content.into(),
            occurred_at: DateTime::parse_from_rfc3339(&format!("2023-05-{day:02}T10:00:00Z"))
                .unwrap()
                .with_timezone(&Utc),
        };
        IndexedEpisode::new(record, None, i64::from(day))
    }

    fn kinds(results: &[ScoredMemory]) -> Vec<&'static str> {
        results
            .iter()
            .map(|r| match r {
                ScoredMemory::Fact { .. } => "fact",
                ScoredMemory::Episode { .. } => "episode",
            })
            .collect()
    }

    #[test]
    fn turns_rank_with_facts_by_their_words_and_speaker_and_answer_tagged() {
        let job = Uuid::now_v7();
        let turns = vec![
            turn(job, 0, "Caroline", "I went to a support group yesterday", 7),
            turn(job, 1, "Melanie", "I painted a sunrise by the lake", 8),
        ];
        let index = UserIndex::new(many(), turns);
        let all = super::rank(
            &index,
            "support group",
            None,
            &SearchFilter::default(),
            3,
            0.0,
        );
        assert_eq!(kinds(&all)[0], "episode");
        let json = serde_json::to_value(&all[0]).unwrap();
        assert_eq!(json["type"], "episode");
        assert_eq!(json["name"], "Caroline");
        assert_eq!(json["message_index"], 0);
        let by_speaker = super::rank(&index, "melanie", None, &SearchFilter::default(), 1, 0.0);
        assert!(
            matches!(&by_speaker[0], ScoredMemory::Episode { episode, .. }
            if episode.name.as_deref() == Some("Melanie"))
        );
    }

    #[test]
    fn types_windows_and_fact_filters_choose_among_facts_and_turns() {
        let job = Uuid::now_v7();
        let turns = vec![
            turn(job, 0, "Caroline", "my dog Milu loves the park", 7),
            turn(job, 1, "Caroline", "Milu ran after a ball", 20),
        ];
        let index = UserIndex::new(many(), turns);
        let only_facts = SearchFilter {
            episodes: false,
            ..SearchFilter::default()
        };
        let facts = super::rank(&index, "Milu", None, &only_facts, 10, 0.0);
        assert!(kinds(&facts).iter().all(|k| *k == "fact"));
        let only_turns = SearchFilter {
            facts: false,
            since: Some(
                DateTime::parse_from_rfc3339("2023-05-10T00:00:00Z")
                    .unwrap()
                    .into(),
            ),
            ..SearchFilter::default()
        };
        let late = super::rank(&index, "Milu", None, &only_turns, 10, 0.0);
        assert_eq!(late.len(), 1, "one turn inside the window");
        let keyed = SearchFilter {
            keys: Some(vec!["pet.*".into()]),
            ..SearchFilter::default()
        };
        let pets = super::rank(&index, "Milu", None, &keyed, 10, 0.0);
        assert!(
            kinds(&pets).iter().all(|k| *k == "fact"),
            "keys ask for facts"
        );
    }

    #[test]
    fn a_fact_and_the_turn_it_was_stated_in_are_not_both_shown() {
        let job = Uuid::now_v7();
        let mut dog = fact("pet.dog", "Milu", "has a dog called Milu", None);
        dog.record.source = FactSourceRecord {
            job_id: Some(job),
            message_indexes: vec![0],
        };
        let index = UserIndex::new(
            vec![dog],
            vec![
                turn(job, 0, "Caroline", "I have a dog called Milu", 7),
                turn(job, 1, "Caroline", "Milu is brown", 7),
            ],
        );
        let results = super::rank(&index, "dog Milu", None, &SearchFilter::default(), 10, 0.0);
        assert_eq!(
            results.len(),
            2,
            "the fact and its turn are shown once: {results:?}"
        );
        let shows_turn_0 = results.iter().any(
            |r| matches!(r, ScoredMemory::Episode { episode, .. } if episode.message_index == 0),
        );
        let shows_fact = kinds(&results).contains(&"fact");
        assert!(
            shows_turn_0 != shows_fact,
            "one of the two stands for the other"
        );
        let facts_only = SearchFilter {
            episodes: false,
            ..SearchFilter::default()
        };
        let facts = super::rank(&index, "dog Milu", None, &facts_only, 10, 0.0);
        assert_eq!(kinds(&facts), ["fact"], "without turns the fact is shown");
    }

    #[test]
    fn the_reply_next_to_a_matching_question_ranks_above_an_unrelated_turn() {
        let (job, other) = (Uuid::now_v7(), Uuid::now_v7());
        let index = UserIndex::new(
            vec![],
            vec![
                turn(job, 0, "Melanie", "Did you go to the pottery class?", 7),
                turn(job, 1, "Caroline", "Yes, last Friday, it was lovely", 7),
                turn(other, 0, "Caroline", "Friday is my favourite day", 9),
            ],
        );
        let results = super::rank(
            &index,
            "pottery class",
            None,
            &SearchFilter::default(),
            3,
            0.0,
        );
        let order: Vec<i32> = results
            .iter()
            .map(|r| match r {
                ScoredMemory::Episode { episode, .. } if episode.job_id == job => {
                    episode.message_index
                }
                _ => -1,
            })
            .collect();
        assert_eq!(
            order,
            [0, 1],
            "the reply follows its question; the unrelated turn is out"
        );
    }

    #[test]
    fn a_score_means_the_same_across_queries_and_never_rises_down_the_list() {
        let mut facts = many();
        facts.push(fact(
            "pet.cat",
            "Mochi",
            "I have a cat named Mochi",
            Some(vec![1.0, 0.0]),
        ));
        let index = index(facts);
        let named = super::rank(&index, "Mochi", None, &SearchFilter::default(), 5, 0.0);
        assert!(named[0].score() > 0.9, "{named:?}");
        let nonsense = super::rank(
            &index,
            "xyzzy plugh",
            Some(&[0.0, 1.0]),
            &SearchFilter::default(),
            5,
            0.0,
        );
        assert!(nonsense.iter().all(|r| r.score() < 0.1), "{nonsense:?}");
        let dropped = super::rank(
            &index,
            "xyzzy plugh",
            Some(&[0.0, 1.0]),
            &SearchFilter::default(),
            5,
            0.2,
        );
        assert!(dropped.is_empty(), "a threshold drops what is irrelevant");
        let some = super::rank(&index, "thing pho", None, &SearchFilter::default(), 10, 0.0);
        assert!(some.windows(2).all(|w| w[0].score() >= w[1].score()));
    }

    #[test]
    fn a_turn_found_comes_with_the_turns_around_it_when_asked() {
        let job = Uuid::now_v7();
        let index = UserIndex::new(
            vec![],
            (0..5)
                .map(|i| turn(job, i, "Caroline", &format!("line {i} about kayaks{i}"), 7))
                .collect(),
        );
        let filter = SearchFilter {
            context: 1,
            ..SearchFilter::default()
        };
        let found = super::rank(&index, "kayaks2", None, &filter, 1, 0.0);
        let ScoredMemory::Episode { context, .. } = &found[0] else {
            panic!("a turn: {found:?}");
        };
        let around: Vec<i32> = context.iter().map(|t| t.message_index).collect();
        assert_eq!(around, [1, 3]);
        let plain = super::rank(&index, "kayaks2", None, &SearchFilter::default(), 1, 0.0);
        let json = serde_json::to_value(&plain[0]).unwrap();
        assert!(
            json.get("context").is_none(),
            "no context unless asked: {json}"
        );
    }
}
