//! Ranking one user's memories — live facts and conversation turns, as one list — for a query
//! (the L4 layer): exact cosine over the stored vectors, fused by reciprocal rank with a BM25
//! keyword match, so a name or a number the embedding model does not know ("Milu", "lớp 3")
//! is still found.

mod index;

use index::{Document, WeighedWord, WordStats};
pub use index::{EpisodeRefresh, IndexChanges, IndexedEpisode, IndexedFact, UserIndex};

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use pika_domain::SimilarityScale;
use pika_domain::fold_for_match;
use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::episodes::EpisodeRecord;
use crate::fact_record::FactRecord;

/// Reciprocal-rank-fusion constant: larger flattens the difference between ranks. 60 is the
/// web-search default, set for lists millions long; a user's memories are hundreds, where the
/// first few places of either list say more. On the LOCOMO development split (with stemming)
/// recall@10 is 0.650–0.663 for any constant from 10 to 40, 0.641 at 60 (docs/BENCHMARKS.md).
const RRF_K: f64 = 20.0;
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;

/// English words match across their inflections ("painted", "paints" → "paint"), as a question
/// rarely uses the form the memory does. Snowball's English stemmer leaves Vietnamese syllables,
/// which do not inflect, as they are (or maps both sides alike: a query and a memory always go
/// through the same steps).
static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// A word's exact form (lower case, accents kept) is marked so it never equals a folded one.
const EXACT: char = '=';
/// The folded form of a word written with marks is marked too, so that only a query word
/// written without marks meets it.
const FOLDED_FROM_MARKED: char = '~';

/// A word of a text: its case-, accent- and punctuation-insensitive parts, stemmed and as
/// written, and its exact form when marks set it apart.
struct Word {
    exact: Option<String>,
    folded: Vec<FoldedPart>,
}

struct FoldedPart {
    stemmed: String,
    /// Unstemmed: a word with marks is Vietnamese (or a loan such as "café") and does not
    /// inflect, so it is met by the query word as written, never by an English stem. Else
    /// "doing" (stem "do") would find "đồ" (thing), and "does" "đó" (that).
    written: String,
}

fn split_words(text: &str) -> Vec<Word> {
    let composed: String = text.nfc().collect();
    composed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|raw| {
            let exact: String = raw.chars().flat_map(char::to_lowercase).collect();
            let folded = fold_for_match(raw);
            Word {
                folded: folded
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| FoldedPart {
                        stemmed: STEMMER.stem(w).into_owned(),
                        written: w.to_owned(),
                    })
                    .collect(),
                exact: (exact != folded).then_some(exact),
            }
        })
        .collect()
}

/// The words a memory is matched on. Matching is case-, accent- and punctuation-insensitive
/// and stemmed ("Phở", "pho" and "phở!"; "research" and "researching"), with one exception:
/// Vietnamese tells words apart by their marks ("má" mother, "mà" but, "ma" ghost; "mưa" rain,
/// "múa" dance), so two words both written with marks match only when the marks are the same.
/// A word written without them — a child typing without diacritics, or a query typed so —
/// matches every word it folds alike. Hence a word with marks is kept as its exact form plus
/// its folded form marked as such, and a word without marks as its folded form; see
/// [`query_words`] for the other side.
pub fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for word in split_words(text) {
        match word.exact {
            Some(exact) => {
                words.push(format!("{EXACT}{exact}"));
                words.extend(
                    word.folded
                        .iter()
                        .map(|part| format!("{FOLDED_FROM_MARKED}{}", part.written)),
                );
            }
            None => words.extend(word.folded.into_iter().map(|part| part.stemmed)),
        }
    }
    words
}

/// A query word: the forms a memory's word may take to match it (one term for ranking).
pub(crate) type QueryWord = Vec<String>;

/// English function words. In a question that reads as English they are English, never a
/// Vietnamese word typed without marks: "to" is not "tô" (bowl), "be" not "bé" (little one),
/// "do" not "đồ" (thing). Such a coincidence is rare among a user's memories, so BM25 would
/// weigh it highly and put an unrelated Vietnamese memory first.
const ENGLISH_FUNCTION_WORDS: &[&str] = &[
    "a", "about", "am", "and", "are", "at", "be", "can", "did", "do", "does", "for", "from", "has",
    "have", "he", "her", "his", "how", "i", "in", "is", "it", "my", "of", "on", "or", "she",
    "that", "the", "their", "they", "this", "to", "was", "were", "what", "when", "where", "which",
    "who", "why", "with", "you", "your",
];

/// Vietnamese function words as typed without marks, which a Vietnamese question typed so is
/// full of ("con thich an gi").
const UNMARKED_VIETNAMESE_WORDS: &[&str] = &[
    "ai", "an", "ban", "be", "bo", "cai", "co", "con", "cua", "dau", "em", "gi", "khong", "la",
    "me", "minh", "nao", "nha", "o", "thich", "toi", "va",
];

/// A question with no mark whose English function words outnumber its Vietnamese ones.
fn reads_as_english(words: &[Word]) -> bool {
    let count = |list: &[&str]| {
        words
            .iter()
            .flat_map(|word| &word.folded)
            .filter(|part| list.contains(&part.written.as_str()))
            .count()
    };
    words.iter().all(|word| word.exact.is_none())
        && count(ENGLISH_FUNCTION_WORDS) > count(UNMARKED_VIETNAMESE_WORDS)
}

/// The query's words, each with the memory forms it matches: a word with marks matches the
/// same exact word or a word written without marks; a word without marks matches every word
/// that folds alike, with marks or without — except an English function word in a question
/// that reads as English ([`ENGLISH_FUNCTION_WORDS`]).
pub(crate) fn query_words(text: &str) -> Vec<QueryWord> {
    let words = split_words(text);
    let english = reads_as_english(&words);
    let mut query = Vec::new();
    for word in words {
        match word.exact {
            Some(exact) => {
                let mut forms = vec![format!("{EXACT}{exact}")];
                forms.extend(word.folded.into_iter().map(|part| part.stemmed));
                query.push(forms);
            }
            None => query.extend(word.folded.into_iter().map(|part| {
                if english && ENGLISH_FUNCTION_WORDS.contains(&part.written.as_str()) {
                    vec![part.stemmed]
                } else {
                    vec![
                        format!("{FOLDED_FROM_MARKED}{}", part.written),
                        part.stemmed,
                    ]
                }
            })),
        }
    }
    query
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
        /// Relevance in [0, 1], comparable across queries: how close in meaning (the cosine
        /// read on the model's `SimilarityScale`) or how much of the query's weight in words the memory
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
fn keyword_scores(
    candidates: &[Candidate<'_>],
    stats: &WordStats,
    query: &[QueryWord],
) -> Vec<f64> {
    if query.is_empty() || candidates.is_empty() {
        return vec![0.0; candidates.len()];
    }
    let weights: Vec<WeighedWord<'_>> = query
        .iter()
        .map(|term| stats.weigh(term))
        .filter(|word| word.held > 0.0)
        .collect();
    let average_length = stats.average_length().max(1.0);
    candidates
        .iter()
        .map(|candidate| {
            let words = candidate.document().words();
            let length = words.len() as f64;
            weights
                .iter()
                .map(|word| {
                    let frequency = word.frequency_in(words) as f64;
                    if frequency == 0.0 {
                        return 0.0;
                    }
                    word.idf * frequency * (BM25_K1 + 1.0)
                        / (frequency + BM25_K1 * (1.0 - BM25_B + BM25_B * length / average_length))
                })
                .sum()
        })
        .collect()
}

/// How much of the query each candidate holds: the IDF weight of the query words it contains
/// over the weight of all of them, a word this user never used weighing as the rarest. So a
/// query of words no memory holds ("xyzzy") covers nothing, whatever ranks first.
fn keyword_coverage(
    candidates: &[Candidate<'_>],
    stats: &WordStats,
    query: &[QueryWord],
) -> Vec<f64> {
    let mut terms: Vec<&QueryWord> = query.iter().collect();
    terms.sort_unstable();
    terms.dedup();
    let weights: Vec<WeighedWord<'_>> = terms.iter().map(|term| stats.weigh(term)).collect();
    let total: f64 = weights.iter().map(|word| word.idf).sum();
    if total <= 0.0 {
        return vec![0.0; candidates.len()];
    }
    candidates
        .iter()
        .map(|candidate| {
            let words = candidate.document().words();
            let held: f64 = weights
                .iter()
                .filter(|word| word.is_in(words))
                .map(|word| word.idf)
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

/// The ranking by meaning: the memories above the scale's floor, and in any case the
/// closest one when it is above `unrelated`. Where a model rates every pair fairly alike (e5
/// across languages: the answer at 0.77, the rest at 0.74–0.75) the one memory that stands out
/// still counts, while the many that are merely not unrelated take no part.
fn semantic_ranking(semantic: &[f64], scale: SimilarityScale) -> Vec<usize> {
    let mut order = ranking(semantic, f64::from(scale.unrelated));
    let floor = f64::from(scale.floor);
    let above_floor = order
        .iter()
        .skip(1)
        .take_while(|i| semantic[**i] > floor)
        .count();
    order.truncate(1 + above_floor);
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
/// On the LOCOMO development split every share from 0.6 to 0.8 gives recall@10 0.66–0.68 and
/// recall@20 0.76–0.77 (0.5: 0.663 / 0.743; 0.3: 0.639 / 0.716); 0.7 is the middle of that.
const NEIGHBOUR_SHARE: f64 = 0.7;

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

/// A search's question as its embedder saw it: the vector and how that model's cosines read.
#[derive(Debug, Clone, Copy)]
pub struct QueryVector<'a> {
    pub vector: &'a [f32],
    pub scale: SimilarityScale,
}

/// Ranks a user's memories for a query. `query_vector` is `None` when no embedding could be
/// made (the embedder is down): the keyword match alone then ranks.
pub fn rank(
    index: &UserIndex,
    query: &str,
    query_vector: Option<QueryVector<'_>>,
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
    let query_words = query_words(query);
    let scale = query_vector
        .as_ref()
        .map_or(SimilarityScale::MINILM, |q| q.scale);
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
        .map(|c| match (&query_vector, c.document().embedding()) {
            (Some(q), Some(e)) => match c {
                Candidate::Fact(_) => f64::from(cosine(q.vector, e) - q.scale.key_lift),
                Candidate::Episode(_) => f64::from(cosine(q.vector, e)),
            },
            _ => 0.0,
        })
        .collect();
    let mut fused = vec![0.0; candidates.len()];
    let lists = [semantic_ranking(&semantic, scale), ranking(&keyword, 0.0)];
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
        .map(|(cos, covered)| scale.relevance(*cos).max(*covered))
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
mod tests;
