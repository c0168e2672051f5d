//! The words from `worker/lexicon/lexicon.toml`, read once into the lookups the readers use and
//! the alternations the patterns splice in, so a new food, colour or pet needs no code change.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use pika_domain::FactKey;

use super::language::Lang;
use super::text::{fold_case, nfc, strip_marks};

/// The lexicon shipped with the worker, compiled in so the extractor needs no file at run time.
pub(super) const BUNDLED_LEXICON: &str = include_str!("../../../lexicon/lexicon.toml");

/// Returned instead of a panic, so a lexicon passed to `from_lexicon_str` can be rejected with
/// the reason.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("the lexicon is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("the lexicon produced an invalid pattern: {0}")]
    Pattern(#[from] regex::Error),
    #[error("the lexicon is invalid: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLexicon {
    topics: BTreeMap<String, RawTopic>,
    animals: BTreeMap<String, RawEntry>,
    relations: BTreeMap<String, RawEntry>,
    verbs: BTreeMap<String, Words>,
    jobs: Words,
    diets: Words,
    numbers: Words,
    months: Words,
    names: RawNames,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Words {
    #[serde(default)]
    en: Vec<String>,
    #[serde(default)]
    vi: Vec<String>,
}

impl Words {
    fn strip_marks(&mut self) {
        for word in self.en.iter_mut().chain(&mut self.vi) {
            *word = strip_marks(word);
        }
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.en.iter().chain(&self.vi)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Label {
    en: String,
    vi: String,
}

impl Label {
    pub(super) fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Vi => &self.vi,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    label: Label,
    #[serde(default)]
    names: Words,
    #[serde(default)]
    words: Words,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    label: Label,
    words: Words,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNames {
    not_names: Vec<String>,
}

impl RawLexicon {
    /// The same lexicon for Vietnamese typed without marks: every word loses its marks
    /// ("phở" → "pho"), labels keep theirs, since they write the fact's text. Where two words
    /// become one ("bà", "ba"), the first listed keeps it, as for any repeated word.
    pub(super) fn without_marks(mut self) -> Self {
        for topic in self.topics.values_mut() {
            topic.names.strip_marks();
            topic.words.strip_marks();
        }
        for entry in self.animals.values_mut().chain(self.relations.values_mut()) {
            entry.words.strip_marks();
        }
        for verbs in self.verbs.values_mut() {
            verbs.strip_marks();
        }
        for words in [&mut self.jobs, &mut self.diets, &mut self.numbers] {
            words.strip_marks();
        }
        for name in &mut self.names.not_names {
            *name = strip_marks(name);
        }
        // "bố" (father) and "bò" (cow) are both "bo" now, "ông" (grandfather) and "ong" (bee)
        // one word: a child typing about family means the relative, so relations keep it.
        let relatives: HashSet<String> = self
            .relations
            .values()
            .flat_map(|entry| entry.words.all())
            .map(|word| fold_case(word))
            .collect();
        for words in self
            .animals
            .values_mut()
            .map(|entry| &mut entry.words)
            .chain(self.topics.values_mut().map(|topic| &mut topic.words))
        {
            words.en.retain(|w| !relatives.contains(&fold_case(w)));
            words.vi.retain(|w| !relatives.contains(&fold_case(w)));
        }
        self
    }
}

/// The lexicon as lookups: every word in its lowercase NFC form.
#[derive(Debug)]
pub(super) struct Lexicon {
    /// A liked thing → its topic (`pizza` → `food`); the first topic listing a word wins.
    pub(super) topic_of_word: HashMap<String, String>,
    /// How the lexicon spells a word, so "english" is stored as "English".
    pub(super) spelling: HashMap<String, String>,
    /// A noun naming a topic → the topic (`colour` → `color`, `món ăn` → `food`).
    pub(super) topic_of_name: HashMap<String, String>,
    pub(super) topic_labels: HashMap<String, Label>,
    pub(super) animal_of_word: HashMap<String, String>,
    pub(super) animal_labels: HashMap<String, Label>,
    pub(super) relation_of_word: HashMap<String, String>,
    pub(super) relation_labels: HashMap<String, Label>,
    pub(super) jobs: HashMap<String, String>,
    pub(super) verb_topic: HashMap<String, String>,
    pub(super) numbers: HashMap<String, u32>,
    pub(super) months: Vec<String>,
    pub(super) not_names: HashSet<String>,
}

impl Lexicon {
    pub(super) fn compile(raw: RawLexicon) -> Result<Self, LexiconError> {
        let mut lexicon = Self {
            topic_of_word: HashMap::new(),
            spelling: HashMap::new(),
            topic_of_name: HashMap::new(),
            topic_labels: HashMap::new(),
            animal_of_word: HashMap::new(),
            animal_labels: HashMap::new(),
            relation_of_word: HashMap::new(),
            relation_labels: HashMap::new(),
            jobs: HashMap::new(),
            verb_topic: HashMap::new(),
            numbers: HashMap::new(),
            months: raw.months.en.iter().map(|m| nfc(m)).collect(),
            not_names: raw.names.not_names.iter().map(|n| fold_case(n)).collect(),
        };
        if lexicon.months.len() != 12 {
            return Err(LexiconError::Invalid("[months] must list 12 months".into()));
        }
        for (topic, entry) in &raw.topics {
            check_segment("topic", topic)?;
            lexicon
                .topic_labels
                .insert(topic.clone(), entry.label.clone());
            for word in entry.words.all() {
                lexicon.add_word(word, topic);
            }
            for name in entry.names.all() {
                lexicon
                    .topic_of_name
                    .entry(fold_case(name))
                    .or_insert_with(|| topic.clone());
            }
        }
        for (animal, entry) in &raw.animals {
            check_segment("animal", animal)?;
            lexicon
                .animal_labels
                .insert(animal.clone(), entry.label.clone());
            for word in entry.words.all() {
                lexicon
                    .animal_of_word
                    .entry(fold_case(word))
                    .or_insert_with(|| animal.clone());
                lexicon.add_word(word, "animal");
            }
        }
        for (relation, entry) in &raw.relations {
            check_segment("relation", relation)?;
            lexicon
                .relation_labels
                .insert(relation.clone(), entry.label.clone());
            for word in entry.words.all() {
                lexicon
                    .relation_of_word
                    .entry(fold_case(word))
                    .or_insert_with(|| relation.clone());
            }
        }
        for (topic, verbs) in &raw.verbs {
            check_segment("verb topic", topic)?;
            for verb in verbs.all() {
                lexicon
                    .verb_topic
                    .entry(fold_case(verb))
                    .or_insert_with(|| topic.clone());
            }
        }
        for job in raw.jobs.all() {
            lexicon
                .jobs
                .entry(fold_case(job))
                .or_insert_with(|| nfc(job));
        }
        for words in [&raw.numbers.en, &raw.numbers.vi] {
            for (value, word) in words.iter().enumerate() {
                let value = u32::try_from(value)
                    .map_err(|_| LexiconError::Invalid("too many number words".into()))?;
                lexicon.numbers.entry(fold_case(word)).or_insert(value);
            }
        }
        Ok(lexicon)
    }

    fn add_word(&mut self, word: &str, topic: &str) {
        let key = fold_case(word);
        self.spelling
            .entry(key.clone())
            .or_insert_with(|| nfc(word));
        self.topic_of_word
            .entry(key)
            .or_insert_with(|| topic.to_owned());
    }

    /// The topic of a liked thing: the whole phrase, then its head (last words in English,
    /// first words in Vietnamese), then an English singular.
    pub(super) fn topic_of(&self, value: &str) -> Option<&str> {
        let lower = fold_case(value);
        if let Some(topic) = self
            .topic_of_word
            .get(&lower)
            .or_else(|| self.topic_of_name.get(&lower))
        {
            return Some(topic);
        }
        let words: Vec<&str> = lower.split(' ').collect();
        let lookup = |phrase: &str| {
            self.topic_of_word
                .get(phrase)
                .or_else(|| self.topic_of_name.get(phrase))
                .map(String::as_str)
        };
        let suffixes = (1..words.len())
            .rev()
            .map(|n| words[words.len() - n..].join(" "));
        let prefixes = (1..words.len()).rev().map(|n| words[..n].join(" "));
        // Vietnamese phrases and English gerunds are headed by their first words ("đọc
        // truyện tranh", "reading books"), other English phrases by their last ("spicy food").
        let vietnamese = lower.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
        let head_first = vietnamese || words.first().is_some_and(|w| w.ends_with("ing"));
        let found = if head_first {
            prefixes.chain(suffixes).find_map(|phrase| lookup(&phrase))
        } else {
            suffixes.chain(prefixes).find_map(|phrase| lookup(&phrase))
        };
        if found.is_some() {
            return found;
        }
        let last = words.last()?;
        singular_forms(last).into_iter().find_map(|s| lookup(&s))
    }

    /// The topic a noun names ("colour" → color), trying the whole phrase, then shorter ones.
    pub(super) fn topic_named(&self, phrase: &str) -> Option<String> {
        let lower = fold_case(phrase);
        let words: Vec<&str> = lower.split(' ').collect();
        for n in (1..=words.len()).rev() {
            if let Some(topic) = self.topic_of_name.get(&words[..n].join(" ")) {
                return Some(topic.clone());
            }
        }
        for n in (1..words.len()).rev() {
            if let Some(topic) = self.topic_of_name.get(&words[words.len() - n..].join(" ")) {
                return Some(topic.clone());
            }
        }
        None
    }

    /// A dream job named inside a phrase ("a famous singer" → singer), longest first.
    pub(super) fn job_in(&self, phrase: &str) -> Option<String> {
        let lower = fold_case(phrase);
        let words: Vec<&str> = lower.split(' ').collect();
        for n in (1..=words.len()).rev() {
            for start in 0..=words.len() - n {
                if let Some(job) = self.jobs.get(&words[start..start + n].join(" ")) {
                    return Some(job.clone());
                }
            }
        }
        None
    }

    pub(super) fn number(&self, text: &str) -> Option<u32> {
        let lower = fold_case(text);
        lower
            .parse()
            .ok()
            .or_else(|| self.numbers.get(&lower).copied())
    }

    pub(super) fn month(&self, text: &str) -> Option<&str> {
        let lower = fold_case(text);
        let prefix: String = lower.chars().take(3).collect();
        self.months
            .iter()
            .find(|m| m.to_lowercase() == lower || m.to_lowercase().starts_with(&prefix))
            .map(String::as_str)
    }

    pub(super) fn is_known_word(&self, word: &str) -> bool {
        let lower = fold_case(word);
        self.topic_of_word.contains_key(&lower)
            || self.topic_of_name.contains_key(&lower)
            || self.relation_of_word.contains_key(&lower)
    }

    pub(super) fn topic_label(&self, topic: &str, lang: Lang) -> String {
        self.topic_labels
            .get(topic)
            .map_or_else(|| topic.replace('_', " "), |l| l.get(lang).to_owned())
    }
}

fn check_segment(what: &str, segment: &str) -> Result<(), LexiconError> {
    FactKey::parse(&format!("likes.{segment}"))
        .map(drop)
        .map_err(|e| LexiconError::Invalid(format!("{what} {segment:?}: {e}")))
}

/// English singulars to try for a plural the lexicon does not list ("puppies" → "puppy").
fn singular_forms(word: &str) -> Vec<String> {
    let mut forms = Vec::new();
    if let Some(stem) = word.strip_suffix("ies") {
        forms.push(format!("{stem}y"));
    }
    if let Some(stem) = word.strip_suffix("es") {
        forms.push(stem.to_owned());
    }
    if let Some(stem) = word.strip_suffix('s') {
        forms.push(stem.to_owned());
    }
    forms
}

/// Regex alternations built from the lexicon, spliced into the patterns.
#[derive(Debug)]
pub(super) struct Vocabulary {
    pub(super) animal: String,
    pub(super) relation: String,
    pub(super) topic_name: String,
    pub(super) number: String,
    pub(super) month: String,
    pub(super) diet: String,
}

impl Vocabulary {
    pub(super) fn from_raw(raw: &RawLexicon) -> Self {
        let numbers = raw
            .numbers
            .all()
            .filter(|w| !matches!(fold_case(w).as_str(), "zero" | "không"));
        let months = raw.months.en.iter().flat_map(|m| {
            let lower = fold_case(m);
            let short: String = lower.chars().take(3).collect();
            [lower, short]
        });
        let months: Vec<String> = months.collect();
        Self {
            animal: alternation(raw.animals.values().flat_map(|a| a.words.all())),
            relation: alternation(raw.relations.values().flat_map(|r| r.words.all())),
            topic_name: alternation(raw.topics.values().flat_map(|t| t.names.all())),
            number: format!(r"(?:\d{{1,3}}|{})", alternation(numbers)),
            month: alternation(months.iter()),
            diet: alternation(raw.diets.all()),
        }
    }
}

/// `(?:longest|…|shortest)`, so "ice cream" is tried before "ice".
fn alternation<'a>(words: impl Iterator<Item = &'a String>) -> String {
    let mut words: Vec<String> = words.map(|w| regex::escape(&fold_case(w))).collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    words.dedup();
    if words.is_empty() {
        return r"(?:\b\B)".to_owned();
    }
    format!("(?:{})", words.join("|"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::BUNDLED_LEXICON;
    use crate::extraction::rules::RulesExtractor;

    #[test]
    fn the_bundled_lexicon_compiles() {
        assert!(RulesExtractor::from_lexicon_str(BUNDLED_LEXICON).is_ok());
        assert!(RulesExtractor::from_lexicon_str("not = [toml").is_err());
    }

    #[test]
    fn topics_come_from_the_lexicon_data() {
        let custom = BUNDLED_LEXICON.replace(
            "[topics.food]",
            "[topics.dessert_flavor]\nlabel = { en = \"flavour\", vi = \"vị\" }\nwords.en = [\"pistachio\"]\n\n[topics.food]",
        );
        let extractor = RulesExtractor::from_lexicon_str(&custom).expect("a valid lexicon");
        let found = extractor.extract_messages(&[user("I like pistachio.")]);
        assert_eq!(found[0].key.as_str(), "likes.dessert_flavor");
        let bad = BUNDLED_LEXICON.replace("[topics.food]", "[topics.Bad-Topic]");
        assert!(RulesExtractor::from_lexicon_str(&bad).is_err());
    }
}
