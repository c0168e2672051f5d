//! One user's memories ready to rank: live facts and conversation turns with their vectors and
//! words, and the word statistics BM25 needs, computed once when loaded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::words;
use crate::episodes::EpisodeRecord;
use crate::fact_record::FactRecord;

/// Words of a fact's value count this many times: the value is what a query most often names.
const VALUE_BOOST: usize = 2;

/// What ranking needs of any memory: its words and its vector.
pub(crate) trait Document {
    fn words(&self) -> &[String];
    fn embedding(&self) -> Option<&[f32]>;
}

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

impl Document for IndexedFact {
    fn words(&self) -> &[String] {
        &self.words
    }
    fn embedding(&self) -> Option<&[f32]> {
        self.embedding.as_deref()
    }
}

/// A conversation turn ready to be ranked: what was said, and by whom (so "what did
/// Caroline …" finds Caroline's turns by her name as well as by meaning).
#[derive(Debug, Clone)]
pub struct IndexedEpisode {
    pub record: EpisodeRecord,
    pub embedding: Option<Vec<f32>>,
    words: Vec<String>,
    pub position: i64,
}

impl IndexedEpisode {
    pub fn new(record: EpisodeRecord, embedding: Option<Vec<f32>>, position: i64) -> Self {
        let mut all = record.name.as_deref().map(words).unwrap_or_default();
        all.extend(words(&record.content));
        Self {
            record,
            embedding,
            words: all,
            position,
        }
    }
}

impl Document for IndexedEpisode {
    fn words(&self) -> &[String] {
        &self.words
    }
    fn embedding(&self) -> Option<&[f32]> {
        self.embedding.as_deref()
    }
}

/// Word statistics BM25 needs over a set of memories. A refresh adjusts them by the memories
/// it adds and drops, rather than counting every word of the user's memory again: words are
/// shared (`Arc<str>`), so carrying them over copies no text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WordStats {
    pub(crate) document_frequency: HashMap<Arc<str>, u32>,
    pub(crate) documents: usize,
    total_length: usize,
}

/// A query word as one user's memories see it; see [`WordStats::weigh`].
pub(crate) struct WeighedWord<'q> {
    pub(crate) forms: Vec<&'q str>,
    pub(crate) held: f64,
    pub(crate) idf: f64,
}

impl WeighedWord<'_> {
    /// How often `words` hold this word, in any of its forms.
    pub(crate) fn frequency_in(&self, words: &[String]) -> usize {
        words
            .iter()
            .filter(|w| self.forms.contains(&w.as_str()))
            .count()
    }

    /// Whether `words` hold this word in any of its forms.
    pub(crate) fn is_in(&self, words: &[String]) -> bool {
        words.iter().any(|w| self.forms.contains(&w.as_str()))
    }
}

/// Each word of a memory once.
fn distinct_words(document: &dyn Document) -> Vec<&str> {
    let mut seen: Vec<&str> = document.words().iter().map(String::as_str).collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

impl WordStats {
    pub(crate) fn of<'a>(documents: impl Iterator<Item = &'a dyn Document>) -> Self {
        let mut stats = Self::default();
        for document in documents {
            stats.add(document);
        }
        stats
    }

    fn add(&mut self, document: &dyn Document) {
        self.documents += 1;
        self.total_length += document.words().len();
        for word in distinct_words(document) {
            match self.document_frequency.get_mut(word) {
                Some(count) => *count += 1,
                None => {
                    self.document_frequency.insert(Arc::from(word), 1);
                }
            }
        }
    }

    fn remove(&mut self, document: &dyn Document) {
        self.documents = self.documents.saturating_sub(1);
        self.total_length = self.total_length.saturating_sub(document.words().len());
        for word in distinct_words(document) {
            if let Some(count) = self.document_frequency.get_mut(word) {
                *count -= 1;
                if *count == 0 {
                    self.document_frequency.remove(word);
                }
            }
        }
    }

    /// A query word's weight here (BM25's IDF: a word few memories hold weighs more; one none
    /// holds weighs as the rarest), with the forms of it these memories hold. Forms no memory
    /// holds are left out, so matching a memory compares its words with only those (an
    /// English query's marked forms never are). `held` is how many memories hold any form (at
    /// most all: one memory may hold two).
    pub(crate) fn weigh<'q>(&self, forms: &'q [String]) -> WeighedWord<'q> {
        let mut held_forms = Vec::with_capacity(forms.len());
        let mut frequency = 0_u32;
        for form in forms {
            if let Some(count) = self.document_frequency.get(form.as_str()) {
                held_forms.push(form.as_str());
                frequency += count;
            }
        }
        let n = self.documents as f64;
        let held = f64::from(frequency).min(n);
        WeighedWord {
            forms: held_forms,
            held,
            idf: ((n - held + 0.5) / (held + 0.5) + 1.0).ln(),
        }
    }

    pub(crate) fn average_length(&self) -> f64 {
        self.total_length as f64 / self.documents.max(1) as f64
    }
}

/// One user's facts and turns ready to rank, with their word statistics computed once when
/// loaded rather than on every search.
#[derive(Debug, Clone, Default)]
pub struct UserIndex {
    /// Shared with the refreshed indexes that still hold them, so a refresh copies no vector.
    facts: Vec<Arc<IndexedFact>>,
    /// In log order: turns are only ever added (or all removed when the user is forgotten).
    episodes: Vec<Arc<IndexedEpisode>>,
    pub(crate) stats: WordStats,
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
    pub fn new(facts: Vec<IndexedFact>, episodes: Vec<IndexedEpisode>) -> Self {
        Self::of_shared(
            facts.into_iter().map(Arc::new).collect(),
            episodes.into_iter().map(Arc::new).collect(),
        )
    }

    /// Facts in id order and turns in log order: ties in ranking then fall the same way
    /// whichever way the index was made (read whole, refreshed, on another process or backend).
    fn of_shared(facts: Vec<Arc<IndexedFact>>, episodes: Vec<Arc<IndexedEpisode>>) -> Self {
        let documents = facts
            .iter()
            .map(|f| f.as_ref() as &dyn Document)
            .chain(episodes.iter().map(|e| e.as_ref() as &dyn Document));
        let stats = WordStats::of(documents);
        Self::with_stats(facts, episodes, stats)
    }

    fn with_stats(
        mut facts: Vec<Arc<IndexedFact>>,
        mut episodes: Vec<Arc<IndexedEpisode>>,
        stats: WordStats,
    ) -> Self {
        facts.sort_unstable_by_key(|f| f.record.fact_id);
        episodes.sort_by_key(|e| (e.position, e.record.message_index));
        Self {
            facts,
            episodes,
            stats,
        }
    }

    pub fn facts(&self) -> impl ExactSizeIterator<Item = &IndexedFact> {
        self.facts.iter().map(AsRef::as_ref)
    }

    pub fn episodes(&self) -> impl ExactSizeIterator<Item = &IndexedEpisode> {
        self.episodes.iter().map(AsRef::as_ref)
    }

    /// How many memories the index holds: what a cache of indexes weighs it by.
    pub fn len(&self) -> usize {
        self.facts.len() + self.episodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The log position of the newest turn held: a refresh reads only turns past it.
    pub fn last_episode_position(&self) -> Option<i64> {
        self.episodes.iter().map(|e| e.position).max()
    }

    /// The log position of the newest fact change held: facts changed since are past it.
    pub fn last_fact_position(&self) -> Option<i64> {
        self.facts.iter().map(|f| f.position).max()
    }

    /// Whether the held facts and `changed` (those past [`UserIndex::last_fact_position`])
    /// are all `count` of the user's live facts: then no held fact was removed, and
    /// [`UserIndex::merged`] is the index now.
    pub fn adds_up(&self, changed: &[IndexedFact], count: usize) -> bool {
        let new = changed
            .iter()
            .filter(|fact| self.slot(fact.record.fact_id).is_err())
            .count();
        self.facts.len() + new == count
    }

    /// Where fact `id` is held (facts are kept in id order), or where it would go.
    fn slot(&self, id: Uuid) -> Result<usize, usize> {
        self.facts
            .binary_search_by_key(&id, |fact| fact.record.fact_id)
    }

    /// This index with `changed` put in (replacing the held versions) and `episodes` added,
    /// at the cost of what changed: held facts and their words are shared, not reread.
    #[must_use]
    pub fn merged(&self, changed: Vec<IndexedFact>, episodes: EpisodeRefresh) -> Self {
        let mut facts = self.facts.clone();
        let mut stats = self.stats.clone();
        for fact in changed {
            let fact = Arc::new(fact);
            stats.add(fact.as_ref());
            match facts.binary_search_by_key(&fact.record.fact_id, |f| f.record.fact_id) {
                Ok(slot) => {
                    stats.remove(facts[slot].as_ref());
                    facts[slot] = fact;
                }
                Err(slot) => facts.insert(slot, fact),
            }
        }
        let episodes = self.episodes_with(episodes, &mut stats);
        Self::with_stats(facts, episodes, stats)
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

    /// The index of the user's memories now. Facts: `current` lists every live fact with its
    /// position (a fact missing from it was retracted or forgotten and is dropped), `read`
    /// holds the facts [`UserIndex::changes`] said to read again, as read (possibly newer
    /// still); a fact neither held at its position nor read is left out: it went between the
    /// listing and the read. Turns: `episodes` replaces the held ones when given (read whole),
    /// else `new_episodes` (those past [`UserIndex::last_episode_position`]) are added.
    #[must_use]
    pub fn refreshed(
        &self,
        current: &[(Uuid, i64)],
        read: Vec<IndexedFact>,
        episodes: EpisodeRefresh,
    ) -> Self {
        let held: HashMap<Uuid, &Arc<IndexedFact>> =
            self.facts.iter().map(|f| (f.record.fact_id, f)).collect();
        let mut read: HashMap<Uuid, Arc<IndexedFact>> = read
            .into_iter()
            .map(|f| (f.record.fact_id, Arc::new(f)))
            .collect();
        let facts: Vec<Arc<IndexedFact>> = current
            .iter()
            .filter_map(|(id, position)| {
                read.remove(id).or_else(|| {
                    held.get(id)
                        .filter(|f| f.position == *position)
                        .map(|f| Arc::clone(f))
                })
            })
            .collect();
        let mut stats = self.stats.clone();
        let kept: HashSet<*const IndexedFact> = facts.iter().map(Arc::as_ptr).collect();
        for dropped in self
            .facts
            .iter()
            .filter(|f| !kept.contains(&Arc::as_ptr(f)))
        {
            stats.remove(dropped.as_ref());
        }
        let before: HashSet<*const IndexedFact> = self.facts.iter().map(Arc::as_ptr).collect();
        for new in facts.iter().filter(|f| !before.contains(&Arc::as_ptr(f))) {
            stats.add(new.as_ref());
        }
        let episodes = self.episodes_with(episodes, &mut stats);
        Self::with_stats(facts, episodes, stats)
    }

    /// The turns after a refresh, with `stats` adjusted for those it added or replaced.
    fn episodes_with(
        &self,
        episodes: EpisodeRefresh,
        stats: &mut WordStats,
    ) -> Vec<Arc<IndexedEpisode>> {
        match episodes {
            EpisodeRefresh::Whole(all) => {
                let all: Vec<Arc<IndexedEpisode>> = all.into_iter().map(Arc::new).collect();
                for gone in &self.episodes {
                    stats.remove(gone.as_ref());
                }
                for turn in &all {
                    stats.add(turn.as_ref());
                }
                all
            }
            EpisodeRefresh::Added(added) => {
                let added: Vec<Arc<IndexedEpisode>> = added.into_iter().map(Arc::new).collect();
                for turn in &added {
                    stats.add(turn.as_ref());
                }
                self.episodes.iter().cloned().chain(added).collect()
            }
        }
    }
}

/// The turns a refresh read: all of them, or only those added since the index was loaded.
#[derive(Debug)]
pub enum EpisodeRefresh {
    Whole(Vec<IndexedEpisode>),
    Added(Vec<IndexedEpisode>),
}
