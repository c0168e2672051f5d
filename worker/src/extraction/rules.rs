//! The default extractor: offline, deterministic rules for English and Vietnamese.
//!
//! A user message is cut into sentences and clauses, and each clause is read by patterns
//! anchored at its subject, so only what users say about themselves becomes a fact: "My friend
//! Tuan likes basketball" starts with someone else and is left alone. Questions, hypotheticals
//! ("What if I had a dog?") and the assistant's words are never read as facts, but the
//! assistant's last question gives a short answer its meaning ("What's your favourite
//! subject?" — "Math!").
//!
//! The grammar lives here; the words that name things (foods, colours, animals, relations,
//! jobs) live in `worker/lexicon/lexicon.toml`, so the vocabulary grows without code changes.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use regex::{Captures, Regex};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use pika_domain::{
    Cardinality, ChatMessage, Confidence, Conversation, FactKey, FactText, FactValue, Language,
    Role,
};

use super::{Candidate, ExtractionError, Extractor, Polarity};

/// The lexicon shipped with the worker, compiled in so the extractor needs no file at run time.
const BUNDLED_LEXICON: &str = include_str!("../../lexicon/lexicon.toml");

/// A plain statement about oneself ("My favourite colour is blue").
const DIRECT: f64 = 0.9;
/// A short answer read through the assistant's question ("Math!").
const CONTEXTUAL: f64 = 0.8;
/// A habit rather than a stated liking ("I play the piano", "Em học võ").
const HABIT: f64 = 0.8;
/// A statement whose topic had to be guessed, a "yes" to a question, "I used to …", or a
/// relative only mentioned in passing ("My sister loves pink").
const WEAK: f64 = 0.7;

/// Vietnamese first-person pronouns a child uses about themselves.
const VI_SELF: &str = r"(?:em|con|mình|tớ|tôi|cháu|tui|bé)";
/// How the assistant addresses the child in Vietnamese.
const VI_ADDRESSEE: &str = r"(?:con|em|cháu|bạn|cậu|bé)";
/// An uppercase letter even inside a case-insensitive pattern: names are told by their capital.
const CAPITAL: &str = r"(?-i:\p{Lu})";
const EN_PET_ADJECTIVES: &str = r"(?:little|big|small|baby|pet|cute|fluffy|black|white|brown|grey|gray|orange|golden|tiny|new|old|young|fat|lazy|naughty|funny|adorable|sweet|spotted|striped|ginger|furry|dear|poor|beloved)";
const VI_PET_ADJECTIVES: &str = r"(?:nhỏ|to|bự|trắng|đen|vàng|xám|nâu|mướp|tam thể|béo|xinh|dễ thương|cưng|lông xù|ta|tây|nhật|con|lai|cảnh|tai cụp|lông dài|poodle|corgi|husky|becgie|phốc)";
const FAMILY_ADJECTIVES: &str =
    r"(?:little|big|older|younger|elder|baby|twin|step|new|only|oldest|youngest)";
const COUNTS: &str = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+|some|many|lots of|a lot of|several|a couple of|một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mấy|nhiều|vài|my|our)";

/// Words that end a liked thing: "playing football WITH my friends", "kem LẮM".
#[rustfmt::skip]
const PREFERENCE_STOPS: &[&str] = &[
    "with", "because", "cause", "'cause", "when", "while", "since", "after", "before", "every",
    "at", "in", "on", "for", "from", "than", "but", "though", "so", "if", "until", "during",
    "last", "yesterday", "today", "tonight", "now", "too", "either", "anymore", "any more",
    "a lot", "lots", "so much", "very much", "much", "more", "the most", "most", "best",
    "sometimes", "always", "often", "really", "also", "again", "together", "everyday", "at all",
    "right", "anyway", "as well", "like", "which", "that's", "it's", "and then", "instead",
    "lol", "haha", "hehe", "với", "cùng", "ở", "tại", "vì", "bởi vì", "tại vì", "khi", "lúc",
    "mỗi", "hằng", "hàng ngày", "hàng tuần", "lắm", "nhất", "quá", "rồi", "nữa", "ạ", "nhé",
    "nha", "á", "ấy", "đó", "luôn", "cực kỳ", "cực kì", "vô cùng", "hơn", "nhiều", "mà",
    "nhưng", "để", "thôi", "đâu", "nè", "hả", "đấy", "cơ", "với lại", "trong", "vào", "bây giờ",
    "hôm nay", "hôm qua", "cũng", "lắm luôn", "thế", "ghê", "dữ", "kinh khủng",
];
/// Words that end a place, school or job: "Da Nang WITH my parents".
#[rustfmt::skip]
const PLACE_STOPS: &[&str] = &[
    "with", "and", "but", "near", "because", "since", "now", "too", "for", "where", "when",
    "which", "who", "so", "right", "close", "next", "anymore", "today", "yesterday", "last",
    "và", "với", "cùng", "nhưng", "gần", "ạ", "nhé", "nha", "đó", "ấy", "từ", "lâu", "rồi",
    "nữa", "vì", "cạnh", "bây giờ", "luôn", "á", "nè", "mà", "thì", "khi", "khi nào",
];
/// Words that cannot be part of a name ("Minh AND I'm 8", "Minh EM 8 tuổi").
const NAME_STOPS: &[&str] = &[
    "and", "but", "or", "so", "because", "i", "i'm", "im", "my", "is", "was", "who", "which",
    "that", "with", "from", "the", "a", "an", "she", "he", "it", "they", "we", "too", "also",
    "now", "lol", "haha", "years", "year", "old", "like", "likes", "loves", "are", "to", "for",
    "in", "at", "of", "on", "just", "not", "no", "yes", "ok", "okay", "và", "nhưng", "còn", "mà",
    "em", "con", "mình", "tớ", "tôi", "cháu", "tui", "năm", "nay", "tuổi", "học", "sống", "ở",
    "thích", "là", "có", "ạ", "nhé", "nha", "đó", "ấy", "á", "nè", "rồi", "luôn", "của", "nhà",
    "với", "cùng", "hả", "nhỉ", "đấy", "thì", "bị", "đang", "được", "lắm", "quá", "nữa", "hay",
    "rất", "cũng", "gọi", "tên",
];
/// First words that make a value a pronoun or filler rather than a thing.
#[rustfmt::skip]
const NOT_A_THING: &[&str] = &[
    "it", "that", "this", "them", "you", "him", "her", "everything", "nothing", "anything",
    "something", "what", "it's", "me", "myself", "us", "how", "when", "where", "why", "who",
    "there", "to", "being", "they", "he", "she", "we", "i", "those", "these", "nó", "đó", "gì",
    "bạn", "cậu", "những", "cái đó", "cái này", "họ", "điều", "tất cả", "mọi", "này", "kia",
    "ai",
];
/// Leading words that are not part of a value: articles, possessives, Vietnamese classifiers.
const LEADING_FILLERS: &[&str] = &[
    "a", "an", "the", "some", "my", "our", "this", "that", "these", "those", "any", "all",
    "lots of", "a lot of", "many", "much", "to", "những", "các", "một", "mấy", "cái", "con", "món",
    "quả", "trái", "chiếc", "cuốn", "quyển", "bộ", "bài", "môn", "màu", "được", "chú", "bé",
    "loại", "cả", "đồ", "both", "either",
];
/// Places too generic to be a location ("I live in a house", "Em ở nhà").
#[rustfmt::skip]
const GENERIC_PLACES: &[&str] = &[
    "a", "an", "my", "our", "house", "home", "apartment", "flat", "this", "that", "here",
    "there", "it", "city", "town", "village", "countryside", "nhà", "trường", "lớp", "đây",
    "đó", "kia", "với", "cùng", "gần", "trong", "ngoài", "trên", "dưới", "chung", "bên", "một",
    "thành phố", "quê", "đâu",
];
/// Short replies that answer nothing ("Cool.", "Không biết").
#[rustfmt::skip]
const NON_ANSWERS: &[&str] = &[
    "yes", "no", "yeah", "yep", "nope", "ok", "okay", "cool", "nice", "sure", "maybe", "idk",
    "dunno", "nothing", "none", "hmm", "um", "i don't know", "not sure", "thanks", "thank you",
    "lol", "haha", "wow", "great", "good", "fine", "không biết", "chưa", "không", "có", "dạ",
    "vâng", "ừ", "cảm ơn", "hihi", "hì hì", "không có",
];
/// Replies that confirm a yes/no question ("Do you like basketball?" — "Yes!").
#[rustfmt::skip]
const YES_ANSWERS: &[&str] = &[
    "yes", "yeah", "yep", "yup", "yes i do", "i do", "of course", "sure", "definitely",
    "totally", "yes please", "uh huh", "có", "có ạ", "dạ có", "vâng", "có chứ", "thích ạ",
    "em có", "con có", "dạ thích", "thích", "có thích", "dạ con thích", "dạ em thích", "ừ",
    "dạ vâng", "yes!", "yes a lot", "yes very much",
];
/// Words that make a capitalised name a school ("Nguyen Du Primary School").
const SCHOOL_WORDS: &[&str] = &[
    "school",
    "academy",
    "kindergarten",
    "preschool",
    "elementary",
    "primary",
    "college",
];
const ORDINALS: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth",
];

/// Why a lexicon could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("the lexicon is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("the lexicon produced an invalid pattern: {0}")]
    Pattern(#[from] regex::Error),
    #[error("the lexicon is invalid: {0}")]
    Invalid(String),
}

/// The rule-based extractor: patterns for English and Vietnamese over a word lexicon.
#[derive(Debug)]
pub struct RulesExtractor {
    lexicon: Lexicon,
    patterns: Patterns,
}

impl RulesExtractor {
    /// The extractor with the lexicon bundled in the binary.
    ///
    /// # Panics
    /// Never in a build that passed its tests: the bundled lexicon is checked by
    /// `the_bundled_lexicon_compiles`, and nothing at run time can change it.
    pub fn new() -> Self {
        Self::from_lexicon_str(BUNDLED_LEXICON)
            .expect("the bundled lexicon is valid (checked by the_bundled_lexicon_compiles)")
    }

    /// An extractor over another lexicon with the same layout as `worker/lexicon/lexicon.toml`,
    /// for tenants or tests that need their own vocabulary.
    pub fn from_lexicon_str(source: &str) -> Result<Self, LexiconError> {
        let raw: RawLexicon = toml::from_str(source)?;
        let vocabulary = Vocabulary::from_raw(&raw);
        let lexicon = Lexicon::compile(raw)?;
        let patterns = Patterns::build(&vocabulary)?;
        Ok(Self { lexicon, patterns })
    }

    /// Reads a conversation synchronously; `extract` is this behind the async trait.
    pub fn extract_messages(&self, messages: &[ChatMessage]) -> Vec<Candidate> {
        let mut candidates = Vec::new();
        let mut expectation: Option<(Expectation, u32)> = None;
        let mut last_single: Option<String> = None;
        for (index, message) in messages.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match message.role {
                Role::Assistant => {
                    expectation = self.expectation(&message.content).map(|e| (e, index));
                }
                Role::System => expectation = None,
                Role::User => {
                    let text = normalise_message(&message.content);
                    let lang = detect_language(&text);
                    let findings =
                        self.read_user_message(&text, lang, expectation.take(), &mut last_single);
                    for (finding, question) in findings {
                        let mut indexes: Vec<u32> = question.into_iter().collect();
                        indexes.push(index);
                        if let Some(candidate) = self.candidate(finding, lang, indexes) {
                            candidates.push(candidate);
                        }
                    }
                }
            }
        }
        candidates
    }
}

impl Default for RulesExtractor {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Extractor for RulesExtractor {
    async fn extract(
        &self,
        conversation: &Conversation,
    ) -> Result<Vec<Candidate>, ExtractionError> {
        Ok(self.extract_messages(conversation.messages()))
    }
}

// ---------------------------------------------------------------------------------------------
// Lexicon

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLexicon {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Words {
    #[serde(default)]
    en: Vec<String>,
    #[serde(default)]
    vi: Vec<String>,
}

impl Words {
    fn all(&self) -> impl Iterator<Item = &String> {
        self.en.iter().chain(&self.vi)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Label {
    en: String,
    vi: String,
}

impl Label {
    fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Vi => &self.vi,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    label: Label,
    #[serde(default)]
    names: Words,
    #[serde(default)]
    words: Words,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    label: Label,
    words: Words,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNames {
    not_names: Vec<String>,
}

/// The lexicon as lookups: every word in its lowercase NFC form.
#[derive(Debug)]
struct Lexicon {
    /// A liked thing → its topic (`pizza` → `food`); the first topic listing a word wins.
    topic_of_word: HashMap<String, String>,
    /// How the lexicon spells a word, so "english" is stored as "English".
    spelling: HashMap<String, String>,
    /// A noun naming a topic → the topic (`colour` → `color`, `món ăn` → `food`).
    topic_of_name: HashMap<String, String>,
    topic_labels: HashMap<String, Label>,
    animal_of_word: HashMap<String, String>,
    animal_labels: HashMap<String, Label>,
    relation_of_word: HashMap<String, String>,
    relation_labels: HashMap<String, Label>,
    jobs: HashMap<String, String>,
    verb_topic: HashMap<String, String>,
    numbers: HashMap<String, u32>,
    months: Vec<String>,
    not_names: HashSet<String>,
}

/// The lowercase NFC form every lookup uses, with single spaces.
fn fold_case(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    nfc.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn nfc(text: &str) -> String {
    text.trim().nfc().collect()
}

impl Lexicon {
    fn compile(raw: RawLexicon) -> Result<Self, LexiconError> {
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
    fn topic_of(&self, value: &str) -> Option<&str> {
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
    fn topic_named(&self, phrase: &str) -> Option<String> {
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
    fn job_in(&self, phrase: &str) -> Option<String> {
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

    fn number(&self, text: &str) -> Option<u32> {
        let lower = fold_case(text);
        lower
            .parse()
            .ok()
            .or_else(|| self.numbers.get(&lower).copied())
    }

    fn month(&self, text: &str) -> Option<&str> {
        let lower = fold_case(text);
        let prefix: String = lower.chars().take(3).collect();
        self.months
            .iter()
            .find(|m| m.to_lowercase() == lower || m.to_lowercase().starts_with(&prefix))
            .map(String::as_str)
    }

    fn is_known_word(&self, word: &str) -> bool {
        let lower = fold_case(word);
        self.topic_of_word.contains_key(&lower)
            || self.topic_of_name.contains_key(&lower)
            || self.relation_of_word.contains_key(&lower)
    }

    fn topic_label(&self, topic: &str, lang: Lang) -> String {
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
struct Vocabulary {
    animal: String,
    relation: String,
    topic_name: String,
    number: String,
    month: String,
    diet: String,
}

impl Vocabulary {
    fn from_raw(raw: &RawLexicon) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Patterns

/// Every pattern, compiled once. All are case-insensitive and most are anchored at the start
/// of a clause, where its subject is.
#[derive(Debug)]
struct Patterns {
    sentence: Regex,
    clause_break: Regex,
    discourse: Regex,
    vi_yes_no_prefix: Regex,
    trailing_noise: Regex,
    future: Regex,
    hypothetical: Regex,
    correction: Regex,
    modal: Regex,
    modal_goal: Regex,
    interrogative: Regex,
    vi_question: Regex,
    list_separator: Regex,
    item_separator: Regex,
    anymore: Regex,
    first_person_en: Regex,
    first_person_vi: Regex,

    ask_favorite: Vec<Regex>,
    ask_favorite_by_verb: Vec<Regex>,
    ask_age: Regex,
    ask_name: Regex,
    ask_location: Regex,
    ask_grade: Regex,
    ask_dream: Regex,
    ask_like: Vec<Regex>,
    ask_have: Vec<Regex>,
    answer_prefix: Regex,
    answer_age: Regex,
    answer_grade: Regex,

    name: Vec<Regex>,
    name_i_am: Regex,
    name_vi_la: Regex,
    nickname: Vec<Regex>,
    age: Vec<Regex>,
    birthday_en: Regex,
    date_en: Regex,
    birthday_vi: Regex,
    birthday_vi_month: Regex,
    location: Vec<Regex>,
    grade: Vec<Regex>,
    grade_ordinal: Regex,
    school_en: Regex,
    school_is: Vec<Regex>,
    school_vi: Regex,
    occupation: Vec<Regex>,

    favorite_my: Regex,
    favorite_is_my: Regex,
    favorite_most: Regex,
    favorite_topic_most: Regex,
    favorite_vi_topic: Regex,
    favorite_vi_most_first: Regex,
    favorite_vi_most_last: Regex,
    favorite_vi_is: Regex,
    dislike: Vec<Regex>,
    dislike_yucky: Regex,
    like: Vec<Regex>,
    habit: Vec<Regex>,
    best_of_topic: Regex,
    goal: Vec<Regex>,
    dream: Vec<Regex>,

    have: Vec<Regex>,
    live_with: Regex,
    pet_item: Regex,
    family_item: Regex,
    not_family_after: Regex,
    pet_named: Vec<Regex>,
    pet_capital: Regex,
    family_named: Vec<Regex>,
    family_capital: Regex,
    family_lives_with: Vec<Regex>,
    family_job: Vec<Regex>,
    family_mention: Vec<Regex>,

    allergy: Vec<Regex>,
    allergy_because: Regex,
    diet: Vec<Regex>,
    diet_avoid: Vec<Regex>,

    pet_gone_en: Regex,
    name_gone_en: Regex,
    pet_gone_vi: Regex,
    pet_lost_vi: Regex,
    no_pet: Vec<Regex>,
    negated_en: Regex,
    used_to_en: Regex,
    quit_en: Regex,
    not_favorite_en: Regex,
    negated_vi: Regex,
}

impl Patterns {
    fn build(v: &Vocabulary) -> Result<Self, regex::Error> {
        let p = |template: &str| -> Result<Regex, regex::Error> {
            let source = template
                .replace("<ANIMAL>", &v.animal)
                .replace("<REL>", &v.relation)
                .replace("<TOPIC>", &v.topic_name)
                .replace("<NUM>", &v.number)
                .replace("<MONTH>", &v.month)
                .replace("<DIET>", &v.diet)
                .replace("<SELF>", VI_SELF)
                .replace("<ADDR>", VI_ADDRESSEE)
                .replace("<CAP>", CAPITAL)
                .replace("<PETADJ>", EN_PET_ADJECTIVES)
                .replace("<VIPETADJ>", VI_PET_ADJECTIVES)
                .replace("<FAMADJ>", FAMILY_ADJECTIVES)
                .replace("<COUNT>", COUNTS)
                .replace("<IAM>", r"(?:i'm|i am|im|i m)");
            Regex::new(&format!("(?i){source}"))
        };
        let all = |templates: &[&str]| -> Result<Vec<Regex>, regex::Error> {
            templates.iter().map(|t| p(t)).collect()
        };
        Ok(Self {
            sentence: p(r"[^.!?\n…]+[.!?…]*")?,
            clause_break: p(
                r"\s*[,;:]\s*|\s+[-–—]\s+|\s+(?:and|but|so|because|cause|'cause|though|although|while|then|và|nhưng|vì|nên|còn|rồi|thì)\s+|\s+(?P<restart>\b(?:i'm|im|i am|i've|i have|i like|i love)\b)",
            )?,
            discourse: p(
                r"^(?:(?:oh wait|no wait|wait|oh|ah|aw|well|actually|and|also|but|so|um+|uh+|hm+|yes|yeah|yep|yup|no|nope|nah|ok|okay|hi|hello|hey|sometimes|now|today|right now|these days|by the way|btw|guess what|you know what|you know|haha|hehe|lol|wow|sure|of course|i mean|i think|i guess|i believe|sorry|then|plus|anyway|dạ|vâng|ừ|ừm|ờ|à|ồ|ôi|ơ|thế|thì|và|nhưng|còn|bây giờ|giờ đây|giờ thì|giờ|hiện tại|hiện giờ|dạo này|thật ra|thực ra|à nhầm|nhầm|ừa|hì hì|hì|hihi|hehe|cô ơi|chị ơi|anh ơi|bạn ơi|pika ơi|năm nay|thưa cô|hôm nay|when i grow up|when i'm (?:older|bigger|big|a grown-?up)|when i am (?:older|bigger|big|a grown-?up)|in the future|some ?day|one day|later on|sau này|lớn lên|khi lớn lên|khi <SELF> lớn lên|mai sau|trong tương lai|tương lai)(?:\b|$)[\s,!.:;-]*)+",
            )?,
            vi_yes_no_prefix: p(r"^(?:không|có)\s*[,!.]+\s*")?,
            trailing_noise: p(
                r"(?:[\s,]+(?:ạ|nhé|nha|nhá|á|nè|hihi|hehe|haha|lol|too|as well|xd|:\)|:d|:p|<3))+\s*$",
            )?,
            future: p(
                r"\b(?:when i grow up|when i'm (?:older|bigger|big|a grown-?up)|when i am (?:older|bigger|big)|in the future|some ?day|one day|sau này|lớn lên|mai sau|tương lai)\b",
            )?,
            hypothetical: p(
                r"\b(?:what if|if|imagine|pretend|suppose|supposing|i wish|nếu|giả sử|giá mà|ước gì|tưởng tượng)\b",
            )?,
            correction: p(
                r"^(?:(?:oh|ah|um|uh|no|oops|sorry|well)[\s,!.]+)*(?:wait|i mean|actually|sorry|oops|no|nope|à nhầm|nhầm|à không|không phải|ý em là|ý con là)\b",
            )?,
            modal: p(r"\b(?:would|could|might|should|wouldn't|couldn't)\b|\b(?:i|we)'d\b")?,
            modal_goal: p(r"(?:would|'d) (?:really )?(?:like|love) to (?:be|become)\b")?,
            interrogative: p(
                r"^(?:do|does|did|are|is|am|can|could|would|will|have|has|what|what's|who|who's|where|when|why|how|which|whose|shall|should|may)\b",
            )?,
            vi_question: p(
                r"(?:\b(?:chưa|hả|hở|nhỉ|gì|sao|nào|mấy)\s*$)|(?:\bcó\b.+\b(?:không|ko)\s*$)",
            )?,
            list_separator: p(
                r"\s*,\s*(?:and\s+|or\s+|và\s+)?|\s+(?:and|or|và|hoặc|với cả|&)\s+|\s*&\s*|\s*/\s*",
            )?,
            item_separator: p(r"^\s*(?:,\s*(?:and\s+|và\s+)?|and\s+|và\s+|&\s*|với\s+|cùng\s+)")?,
            anymore: p(r"\s*\b(?:anymore|any more|no more)\b")?,
            first_person_en: p(r"^(?:i|i'm|im|i've|we|we're|my|our)\b")?,
            first_person_vi: p(r"^(?:nhà )?<SELF>\b")?,

            ask_favorite: all(&[
                r"\bfavou?rite\s+(\p{L}+(?:\s+\p{L}+)?)",
                r"\b(?:what|which) (?:kind of |type of )?(\p{L}+) do you (?:like|love|enjoy) (?:the )?(?:most|best)\b",
                r"(<TOPIC>)\s+(?:(?:nào|gì)\s+)?(?:mà\s+)?(?:<ADDR>\s+)?(?:yêu thích|ưa thích|thích nhất|yêu nhất|mê nhất|thích)\s+(?:nhất\s+)?(?:của\s+<ADDR>\s+)?(?:là\s+)?(?:gì|nào)",
                r"thích\s+(?:ăn\s+|uống\s+|chơi\s+|xem\s+|đọc\s+|học\s+|nghe\s+)?(<TOPIC>)\s+(?:gì|nào)\s+nhất",
            ])?,
            ask_favorite_by_verb: all(&[
                r"\bwhat do you (?:like|love|enjoy) (?:to )?(eat|drink|play|do|watch|listen to) (?:the )?(?:most|best)\b",
                r"\bthích\s+(ăn|uống|chơi|xem|nghe)\s+(?:gì|cái gì)\s+nhất",
            ])?,
            ask_age: p(r"\bhow old\b|\bmấy tuổi\b|\bbao nhiêu tuổi\b|\bwhat(?:'s| is) your age\b")?,
            ask_name: p(
                r"\bwhat(?:'s| is) your name\b|\btên (?:của )?<ADDR> là gì\b|\b<ADDR> tên (?:là )?gì\b",
            )?,
            ask_location: p(
                r"\bwhere do you live\b|\bwhere are you from\b|\b(?:sống|ở) ở đâu\b|\bnhà <ADDR> ở đâu\b|\b<ADDR> ở đâu\b",
            )?,
            ask_grade: p(r"\bwhat grade\b|\bwhich grade\b|\bwhat year are you in\b|\blớp mấy\b")?,
            ask_dream: p(
                r"\bwhat do you want to be\b|\bwhat (?:do|would) you (?:like|want) to be\b|\bwhen you grow up\b|\bmuốn làm (?:nghề )?gì\b|\bước mơ (?:của <ADDR> )?là gì\b|\bmuốn trở thành (?:ai|gì)\b",
            )?,
            ask_like: all(&[
                r"^(?:and |so )?(?:do|did) you (?:also |really |still )?(?:like|love|enjoy) (.+?)(?: too| as well)?$",
                r"^<ADDR> có (?:thích|yêu|mê) (.+?) không$",
            ])?,
            ask_have: all(&[
                r"^(?:and |so )?(?:do|did) you (?:also |still )?(?:have|own|keep) (.+?)(?: too| as well| at home)?$",
                r"^(?:nhà )?<ADDR> có (?:nuôi )?(.+?) không$",
            ])?,
            answer_prefix: p(
                r"^(?:it's|it is|that's|that is|i think|i guess|maybe|probably|definitely|i'd say|my favou?rite is|my favou?rite's|chắc là|có lẽ là|là|thì là|thì)\s+",
            )?,
            answer_age: p(r"^(<NUM>)(?:\s+(?:years?(?: old)?|tuổi))?(?:\s+(?:rồi|ạ|now))?$")?,
            answer_grade: p(
                r"^(?:grade |year |class |lớp )?(\d{1,2}|<NUM>)(?:[a-z]|st|nd|rd|th)?(?: grade)?$",
            )?,

            name: all(&[
                r"^my (?:full |real |first )?name(?:'s| is) (.+)$",
                r"^<SELF> (?:tên là|tên gọi là|có tên là|tên)\s+(.+)$",
                r"^tên (?:của )?<SELF> (?:là|gọi là)\s+(.+)$",
            ])?,
            name_i_am: p(r"^<IAM> (?:called |named )?(.+)$")?,
            name_vi_la: p(r"^<SELF> là (<CAP>.*)$")?,
            nickname: all(&[
                r"^(?:you can |u can |please |just )*call me (.+)$",
                r"^(?:everyone|everybody|people|my friends|friends|my family|my classmates|they|we|my <REL>|<REL>)(?: all)?(?: usually| always| often| sometimes| just)? calls? me (.+)$",
                r"^my nick ?name(?:'s| is) (.+)$",
                r"^(?:(?:mọi người|cả nhà|bố mẹ|ba mẹ|bạn bè|các bạn|ở nhà|nhà|bạn|<REL>)\s+)?(?:(?:hay|thường|vẫn|đều|hay là)\s+)*gọi <SELF> là\s+(.+)$",
                r"^biệt danh (?:của )?<SELF> là\s+(.+)$",
                r"^<SELF> có biệt danh là\s+(.+)$",
                r"^tên ở nhà (?:của )?<SELF> là\s+(.+)$",
                r"^<SELF> tên ở nhà là\s+(.+)$",
            ])?,
            age: all(&[
                r"^(?:<IAM>|my age is) (?:now |already |just |only )?(<NUM>)(?:\s+(?:years?|yrs?)(?:\s+old)?|\s+now|\s+already|\s+today|\s+this year|\s+and a half)*(?:$|,?\s+(?:not|but)\b)",
                r"^i (?:just |recently |finally |have |'ve |already )*turned (<NUM>)\b",
                r"^<SELF> (?:(?:năm nay|bây giờ|giờ|đã|được|vừa|mới|tròn|lên|là|đang|thì) )*(<NUM>) tuổi\b",
                r"^tuổi (?:của )?<SELF> (?:là )?(<NUM>)\b",
            ])?,
            birthday_en: p(r"^(?:my birthday(?:'s| is)?|i was born)(?: on| in)?(?: the)? (.+)$")?,
            date_en: p(
                r"^(?:(<MONTH>)\.? (\d{1,2})(?:st|nd|rd|th)?|(\d{1,2})(?:st|nd|rd|th)?(?: of)? (<MONTH>)|(\d{1,2})/(\d{1,2})(?:/\d{2,4})?|(<MONTH>))\b",
            )?,
            birthday_vi: p(
                r"^(?:sinh nhật (?:của )?<SELF>|<SELF> sinh)(?: là| vào| rơi vào)*(?: ngày)? (\d{1,2})\s*(?:tháng|/|-)\s*(\d{1,2})\b",
            )?,
            birthday_vi_month: p(
                r"^(?:sinh nhật (?:của )?<SELF>|<SELF> sinh)(?: là| vào| rơi vào)* tháng (\d{1,2}|<NUM>)\b",
            )?,
            location: all(&[
                r"^(?:i|we|my family) (?:now |still |currently |also |all )?(?:live|lives|am living|are living|'m living|'re living|stay|stays) in (.+)$",
                r"^(?:<IAM>|i come|i came|we're|we are|we come|my family is|my family comes) (?:\p{L}+ )?from (.+)$",
                r"^(?:i|we|my family) (?:(?:just|recently|have|'ve|also) )*moved to (.+)$",
                r"^(?:i|we) (?:(?:also|still|now) )*(?:live|lives|stay|am living) with .+? in (.+)$",
                r"^(?:nhà )?<SELF> (?:(?:cũng|đang|vẫn) )*(?:sống|ở) (?:cùng|với|chung với) .+? (?:ở|tại) (.+)$",
                r"^(?:nhà )?<SELF> (?:(?:mới|vừa|đã|vừa mới) )*(?:chuyển|dọn) (?:nhà )?(?:đến|tới|về|vào|ra) (?:ở |sống ở )?(.+)$",
                r"^my (?:home|house|hometown|home town) is in (.+)$",
                r"^my (?:hometown|home town) is (.+)$",
                r"^(?:nhà )?<SELF> (?:(?:đang|hiện|hiện đang|vẫn|cũng|thì) )*(?:sống|ở|sinh sống) (?:ở |tại )?(.+)$",
                r"^<SELF> (?:đến|tới) từ (.+)$",
                r"^<SELF> là người (.+)$",
                r"^quê (?:của )?<SELF> (?:ở |là )(.+)$",
            ])?,
            grade: all(&[
                r"\b(?:grade|year|class) (\d{1,2}|<NUM>)(?:[a-z])?\b",
                r"\b(\d{1,2})(?:st|nd|rd|th) grade(?:r)?\b",
                r"\blớp (\d{1,2}|<NUM>)(?:[a-z])?\b",
            ])?,
            grade_ordinal: p(
                r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth) grade(?:r)?\b",
            )?,
            school_en: p(
                r"\b(?:at|attend|attends|go to|goes to|study at|studying at|in|from)\s+(<CAP>[\p{L}\p{N}'.&-]*(?:\s+(?:<CAP>[\p{L}\p{N}'.&-]*|\d+|school|academy|kindergarten|preschool|elementary|primary|secondary|high|middle|college|international|bilingual)){0,6})",
            )?,
            school_is: all(&[
                r"^my school(?:'s name)?(?: is|'s)(?: called| named)? (.+)$",
                r"^trường (?:học )?(?:của )?<SELF> (?:tên )?là\s+(?:trường\s+)?(.+)$",
            ])?,
            school_vi: p(r"\btrường\s+(.+)$")?,
            occupation: all(&[
                r"^(?:<IAM>|i work as) (?:a |an )(.+)$",
                r"^<SELF> (?:đang )?(?:là|làm) (?:một )?(?:nghề )?(.+)$",
            ])?,

            favorite_my: p(
                r"^(?:my|our) (?:(?:very|most|all-time|all time|absolute|number one|#1|favou?rite) )*favou?rite(?:\s+(.+?))?(?:'s|\s+is|\s+are|\s+was|\s+has to be|\s+would be|\s+has always been)\s+(.+)$",
            )?,
            favorite_is_my: p(
                r"^(.+?)(?:\s+is|\s+are|'s)\s+(?:definitely |really |probably |also |still |now )?my (?:very |most |all-time |all time |absolute |new )?favou?rite(?:\s+(.+))?$",
            )?,
            favorite_most: p(
                r"^i (?:(?:really|just|also) )*(?:like|love|enjoy) (.+?)(?: the)? (?:most|best)(?: of all| in the world| ever)?$",
            )?,
            favorite_topic_most: p(
                r"^(?:the )?(.+?) (?:that )?i (?:like|love|enjoy) (?:the )?(?:most|best) (?:is|are) (.+)$",
            )?,
            favorite_vi_topic: p(
                r"^(<TOPIC>)(?:\s+mà)?\s+(?:(?:yêu thích|ưa thích|ưng ý)(?:\s+nhất)?(?:\s+của\s+<SELF>)?|<SELF>\s+(?:(?:rất|cũng)\s+)?(?:thích|yêu|mê|khoái|ưng|ghiền)\s+nhất|(?:thích|yêu)\s+nhất\s+của\s+<SELF>)\s+(?:là|chính là|thì là|thì)\s+(.+)$",
            )?,
            favorite_vi_most_first: p(
                r"^<SELF> (?:(?:rất|cũng|thì) )*(?:thích|yêu|mê|khoái|ghiền) nhất(?: là)?\s+(.+)$",
            )?,
            favorite_vi_most_last: p(
                r"^<SELF> (?:(?:rất|cũng|thì) )*(?:thích|yêu|mê|khoái|ghiền)\s+(.+?)\s+nhất(?:\s+(?:luôn|ạ|đó|á))*$",
            )?,
            favorite_vi_is: p(
                r"^(.+?) là (?:(<TOPIC>)\s+)?(?:mà\s+)?(?:<SELF> (?:thích|yêu|mê) nhất|(?:yêu thích|ưa thích)(?: nhất)?(?: của <SELF>)?)$",
            )?,
            dislike: all(&[
                r"^i (?:(?:really|just|totally|also|still|absolutely|honestly|seriously|kind of|kinda) )*(?:(?:don't|do not|dont|didn't|did not|never) (?:really |even |ever |much |like to )?(?:like|love|enjoy|care for)|(?:can't|cannot|can not|couldn't) stand|hate|hated|dislike|detest|loathe)\s+(.+)$",
                r"^<IAM> (?:not (?:a |really a |really |very )?(?:big |huge )?(?:fan of|into|keen on))\s+(.+)$",
                r"^<SELF> (?:(?:rất|cũng|thật sự|hơi|thì|chả|lại) )*(?:(?:không|chẳng|chả|hông|ko|k) (?:(?:hề|được) )?(?:thích|ưa|khoái|mê|ưng)|ghét|sợ ăn|ngán)\s+(.+)$",
            ])?,
            dislike_yucky: p(
                r"^(.+?) (?:is|are|tastes?) (?:so |really |very |too |super )?(?:yucky|gross|disgusting|horrible|nasty)$",
            )?,
            like: all(&[
                r"^(?:i|we|me and (?:my )?\p{L}+|(?:my )?\p{L}+ and i) (?:(?:really|also|just|totally|so|do|still|absolutely|kind of|kinda|sort of|actually|especially|super|truly|quite|honestly|seriously|definitely|very much|both|all) )*(?:like|likes|love|loves|enjoy|enjoys|adore|dig)\s+(.+)$",
                r"^<IAM> (?:(?:really|so|totally|super|also) )*(?:into|crazy about|obsessed with|a (?:big |huge )?fan of)\s+(.+)$",
                r"^<SELF> (?:(?:rất|cũng|thật sự|siêu|cực kỳ|cực kì|đặc biệt|vẫn|hay|rất là|còn|thì|lại|đều|cực|khá) )*(?:thích|yêu|mê|khoái|ghiền|nghiện|hâm mộ)\s+(.+)$",
            ])?,
            habit: all(&[
                r"^(?:i|we) (?:(?:usually|often|always|also|sometimes|still|now|really) )*(?:play|do|practi[cs]e|go|am learning|'m learning|learn|take|have)\s+(.+)$",
                r"^<SELF> (?:(?:hay|thường|đang|cũng|rất hay|thường xuyên|vẫn|còn|đều|có) )*(?:chơi|tập|học|đi|đi học|đi tập)\s+(.+)$",
            ])?,
            best_of_topic: p(
                r"^(.+?) (?:is|are) (?:the|my) (?:very )?best (<TOPIC>)(?: ever| in the world)?$",
            )?,
            goal: all(&[
                r"^i (?:(?:really|also|just|still|kind of|kinda|totally|definitely) )*(want|wanna|would like|'d like|would love|'d love|hope|plan|dream|am going|'m going|'m gonna|am gonna|gonna|wish|will|'ll|shall) (?:to )?(?:be|become) (.+)$",
                r"^<SELF> (?:(?:rất|cũng|thì|luôn) )*(muốn|mơ ước|ước mơ|ước|mong|mong muốn|dự định|định|thích|sẽ|mơ) (?:được |sẽ )?(?:làm|trở thành|thành|là|làm nghề) (?:một |1 )?(.+)$",
            ])?,
            dream: all(&[
                r"^my (?:big |biggest |only )?dream(?: job)?(?: is|'s)(?: to (?:be|become))? (.+)$",
                r"^ước mơ (?:của )?<SELF> (?:là|là được|chính là) (?:được |sẽ )?(?:làm |trở thành |thành |là )?(?:một )?(.+)$",
            ])?,

            have: all(&[
                r"^(?:i|we|my family) (?:(?:also|still|now|just|both|already|actually|only) )*(?:have|has|'ve got|have got|got|own|owns|keep)\s+(.+)$",
                r"^(?:nhà )?<SELF> (?:(?:cũng|còn|đang|có|đã) )*(?:có|nuôi)\s+(.+)$",
            ])?,
            live_with: p(
                r"^(?:i|we|(?:nhà )?<SELF>) (?:(?:also|still|now|cũng|đang) )*(?:live|lives|stay|am living|sống|ở) (?:together )?(?:with|cùng|với|chung với)\s+(.+)$",
            )?,
            pet_item: p(
                r"^(?:(<COUNT>)\s+)?(?:(?:con|chú|bé|cô)\s+)?(?:<PETADJ>\s+)*(<ANIMAL>)\b(?:\s+<VIPETADJ>\b)*(?:,?\s+(named|called|whose names? (?:is|are)|and (?:his|her|its|their) names? (?:is|are)|and (?:it's|it is|he's|he is|she's|she is|they're|they are) called|tên là|tên|có tên là|được gọi là|gọi là)\b)?\s*",
            )?,
            family_item: p(
                r"^(?:(<COUNT>)\s+)?(?:người\s+)?(?:<FAMADJ>\s+)?(<REL>)\b(?:,?\s+(named|called|whose names? (?:is|are)|tên là|tên|có tên là)\b)?\s*",
            )?,
            not_family_after: p(r"^\s*(?:con|chú|bé|cái|quả|chiếc|<ANIMAL>)\b")?,
            pet_named: all(&[
                r"^(?:my|our) (?:<PETADJ>\s+)*(<ANIMAL>)(?:'s name is|'s name's| is called| is named| named| called|,)\s+(.+)$",
                r"^(?:con |chú |bé )?(<ANIMAL>)(?:\s+<VIPETADJ>)* (?:của )?(?:nhà )?<SELF> (?:tên là|tên|có tên là|là|được gọi là)\s+(.+)$",
            ])?,
            pet_capital: p(r"^(?:my|our) (?:<PETADJ>\s+)*(<ANIMAL>)\s+(<CAP>[\p{L}'-]*)")?,
            family_named: all(&[
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>)(?:'s name is|'s name's| is called| is named| named| called|,)\s+(.+)$",
                r"^(<REL>) (?:của )?<SELF> (?:tên là|tên|có tên là|là)\s+(.+)$",
            ])?,
            family_capital: p(r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>)\s+(<CAP>[\p{L}'-]*)")?,
            family_lives_with: all(&[
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>)\s+(?:also |still |now )?(?:lives|live|is living|stays|stay) with (?:us|me|my family|our family)\b",
                r"^(<REL>) (?:của )?<SELF> (?:cũng |đang )?(?:sống|ở) (?:cùng|với|chung với) (?:<SELF>|nhà <SELF>|gia đình <SELF>|cả nhà)\b",
            ])?,

            family_job: all(&[
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>) (?:is|was|works as) (?:a |an )(.+)$",
                r"^(<REL>) (?:của )?<SELF> (?:là|làm|làm nghề) (?:một )?(?:nghề )?(.+)$",
            ])?,
            family_mention: all(&[
                r"^(?:my|our|me and my|me and) (?:<FAMADJ>\s+)?(<REL>)\b",
                r"^(?:my )?(<REL>) and (?:i|me)\b",
                r"^(<REL>) (?:của )?<SELF>\b",
            ])?,
            allergy: all(&[
                r"^(?:<IAM>|i|i've been|i was|i get) (?:(?:really|very|super|so|also|a little|a bit|quite|severely|seriously|deathly) )*allergic to (.+)$",
                r"^i (?:also )?have (?:a |an )?(?:really bad |bad |severe |serious )?(.+?) allerg(?:y|ies)\b",
                r"^i (?:also )?have (?:an )?allerg(?:y|ies) to (.+)$",
                r"^<SELF> (?:(?:bị|cũng|rất|hơi|thì|lại) )*dị ứng (?:với )?(.+)$",
                r"^<SELF> (?:không|ko|chẳng) ăn được (.+?) vì (?:bị )?dị ứng",
            ])?,
            allergy_because: p(
                r"^i (?:can't|cannot|can not|don't|do not|dont|mustn't) (?:eat|drink|have|touch) (.+?),? (?:because|cause|'cause|since|as) (?:<IAM>|i get) (?:(?:really|very|super|so|a little) )*allergic\b",
            )?,
            diet: all(&[
                r"^(?:<IAM>|we're|we are|my family is|my family are|i've been|i have been) (?:(?:a|an|also|strictly|fully|now) )*(<DIET>)\b",
                r"^(?:i|we|my family) (?:only |just )?eat (<DIET>)\b",
                r"^(?:(?:nhà|gia đình) )?<SELF> (?:(?:đang|chỉ|cũng|thì|đều|hay) )*(<DIET>)\b",
            ])?,
            diet_avoid: all(&[
                r"^(?:i|we|my family) (?:don't|do not|dont|never|can't|cannot|doesn't) eat (meat|pork|beef|seafood|dairy|gluten)\b",
                r"^(?:(?:nhà|gia đình) )?<SELF> (?:không|ko|chẳng) ăn (thịt lợn|thịt heo|thịt bò|thịt|hải sản)\b",
            ])?,

            pet_gone_en: p(
                r"^(?:my|our) (?:<PETADJ>\s+)*(<ANIMAL>)(?:'s name was| named| called|,)?(?:\s+(<CAP>[\p{L}'-]*))?,?\s+(?:(?:just|sadly|recently|suddenly|unfortunately|got|has|had|was|is)\s+)*(?:died|dead|passed away|ran away|run away|lost|went missing|missing|gone|went to heaven|sick and died|given away|hit by a car|moved away)\b",
            )?,
            name_gone_en: p(
                r"^(<CAP>[\p{L}'-]*)\s+(?:(?:just|sadly|recently|suddenly|unfortunately|has|had)\s+)*(?:died|passed away|ran away|went missing|got lost)\b",
            )?,
            pet_gone_vi: p(
                r"^(?:con |chú |bé )?(<ANIMAL>)\b(.*?)\s(?:(?:đã|bị|vừa|mới|đi)\s+)*(?:chết|qua đời|đi lạc|lạc mất|bị lạc|bỏ đi|bị bắt mất|chạy mất|mất tích|mất)\b",
            )?,
            pet_lost_vi: p(
                r"^<SELF> (?:(?:bị|đã|vừa|mới) )*(?:mất|lạc mất|làm mất|làm lạc) (?:con |chú |bé )?(<ANIMAL>)\b(.*)$",
            )?,
            no_pet: all(&[
                r"^(?:i|we) (?:(?:really|just|actually) )*(?:don't|do not|dont|no longer|doesn't|haven't got|have not got|have no|gave away|lost|sold) (?:have |own |keep |got )?(?:a |an |any |my |our |the )?(?:<PETADJ>\s+)*(<ANIMAL>|pets?)\b",
                r"^(?:nhà )?<SELF> (?:(?:cũng|đã|giờ) )*(?:(?:không|chẳng|ko|hông) còn|hết|thôi(?: không)?|không|chẳng|ko|hông) (?:nuôi|có) (?:con |chú |bé )?(<ANIMAL>|thú cưng|con vật|vật nuôi|con nào)\b",
            ])?,
            negated_en: p(
                r"^(?:(?:i|we) (?:(?:really|just|actually|honestly) )*(?:don't|do not|dont|doesn't|no longer|never|can't|cannot)|(?:i'm|im|i am|we're|we are) (?:(?:really|just|actually|honestly) )*(?:not|no longer)) (?:really |even )?(like|love|enjoy|play|do|eat|drink|go to|go|watch|learn|take|practi[cs]e|live in|want to be|want to become|wanna be|into|a fan of|allergic to)\s+(.+)$",
            )?,
            used_to_en: p(
                r"^(?:i|we) used to (like|love|enjoy|play|do|eat|drink|go to|go|watch|learn|take|practi[cs]e|live in|be allergic to|want to be|have|own)\s+(.+)$",
            )?,
            quit_en: p(
                r"^(?:i|we) (?:(?:just|already|finally|recently|have|'ve|had) )*(?:quit|stopped|gave up|given up|dropped out of|dropped)\s+(?:(?:on|playing|doing|learning|taking|going to|practi[cs]ing|eating|drinking)\s+)*(.+)$",
            )?,
            not_favorite_en: p(
                r"^(.+?)\s+(?:is not|isn't|is no longer|'s not|'s no longer|are not|aren't|are no longer)\s+my favou?rite(?:\s+(.+?))?$",
            )?,
            negated_vi: p(
                r"^<SELF> (?:(?:cũng|đã|thì|giờ|bây giờ) )*(không còn|chẳng còn|ko còn|hông còn|hết|thôi không|thôi|ngừng|bỏ|không|chẳng|ko|hông) (?:(?:còn|có|được|hay) )*(thích|mê|yêu|khoái|chơi|tập|đi học|đi tập|học|xem|ăn|uống|sống ở|ở|bị dị ứng với|bị dị ứng|dị ứng với|dị ứng|muốn làm|muốn trở thành|nuôi|có)?\s*(.+)$",
            )?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading messages

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Vi,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Vi => "vi",
        }
    }
}

/// A fact read in one clause, before it becomes a `Candidate`.
#[derive(Debug, Clone, PartialEq)]
struct Finding {
    key: String,
    value: Option<String>,
    polarity: Polarity,
    confidence: f64,
    shape: Shape,
}

/// What a value is beyond its key, so the fact's text can say it well.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Plain,
    /// The name of a pet or relative ("Max"), not the thing itself ("dog").
    Named,
    /// A relative's job ("Mẹ em là giáo viên").
    Job(String),
}

impl Finding {
    fn assert(key: impl Into<String>, value: impl Into<String>, confidence: f64) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
            polarity: Polarity::Assert,
            confidence,
            shape: Shape::Plain,
        }
    }

    fn negate(key: impl Into<String>, value: Option<String>, confidence: f64) -> Self {
        Self {
            key: key.into(),
            value,
            polarity: Polarity::Negate,
            confidence,
            shape: Shape::Plain,
        }
    }

    fn with_name(mut self) -> Self {
        self.shape = Shape::Named;
        self
    }

    fn with_job(mut self, job: &str) -> Self {
        self.shape = Shape::Job(job.to_owned());
        self
    }
}

/// What the assistant's last question asked, so a short answer can be understood.
#[derive(Debug, Clone, PartialEq)]
enum Expectation {
    Favorite(String),
    Age,
    Name,
    Location,
    Grade,
    DreamJob,
    /// "Do you like basketball?" — a "yes" makes these facts.
    Confirm(Vec<Finding>),
    /// "Do you have any pets?" — "Yes, a cat named Luna" names them; a bare "yes" confirms
    /// what the question named, if it named anything.
    Have(Vec<Finding>),
}

/// One clause of a user's sentence, with what the sentence around it says.
#[derive(Debug, Clone, Copy)]
struct Clause<'t> {
    text: &'t str,
    /// The clause opens its sentence, so a capital letter there is grammar, not a name.
    opens_sentence: bool,
    /// The sentence speaks of growing up ("When I grow up …", "Sau này …").
    future: bool,
}

/// A liked thing with its topic.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    value: String,
    topic: String,
    /// The topic is a fallback, not a lexicon entry.
    guessed: bool,
}

/// Curly quotes to straight ones and runs of spaces to one, so patterns see one spelling.
fn normalise_message(text: &str) -> String {
    let straight: String = text
        .nfc()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            c => c,
        })
        .collect();
    straight
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Vietnamese when its function words or diacritics outweigh English function words.
fn detect_language(text: &str) -> Lang {
    const VI_WORDS: &[&str] = &[
        "em", "con", "là", "thích", "không", "của", "và", "có", "tên", "tuổi", "mình", "tớ", "tôi",
        "nhà", "rất", "cũng", "ở", "học", "lớp", "muốn", "nữa", "ạ", "khong", "thich", "la", "cua",
        "nhất", "bị", "được", "cháu",
    ];
    const EN_WORDS: &[&str] = &[
        "i", "i'm", "my", "is", "the", "a", "and", "like", "love", "have", "am", "to", "of", "in",
        "you", "me", "it", "we", "don't", "with", "im", "are", "your", "what",
    ];
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let marked = words
        .iter()
        .filter(|w| w.chars().any(|c| c.is_alphabetic() && !c.is_ascii()))
        .count();
    let vi = words.iter().filter(|w| VI_WORDS.contains(w)).count() + marked.min(2);
    let en = words.iter().filter(|w| EN_WORDS.contains(w)).count();
    if vi > en { Lang::Vi } else { Lang::En }
}

/// Words with their byte offsets.
fn word_spans(text: &str) -> Vec<(usize, &str)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                spans.push((s, &text[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        spans.push((s, &text[s..]));
    }
    spans
}

/// A word without the punctuation around it.
fn bare(word: &str) -> &str {
    word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '#'))
}

/// The text before the first stop phrase; with `at_comma`, also before the first comma. A
/// capitalised word is part of a name, never a stop ("Nha Trang" is not the particle "nha").
fn cut_at_stops<'a>(text: &'a str, stops: &[&str], at_comma: bool) -> &'a str {
    let spans = word_spans(text);
    let lowered: Vec<String> = spans.iter().map(|(_, w)| bare(w).to_lowercase()).collect();
    let mut end = text.len();
    'words: for i in 0..spans.len() {
        if is_capitalised(bare(spans[i].1)) {
            continue;
        }
        for stop in stops {
            let stop_words: Vec<&str> = stop.split(' ').collect();
            if i + stop_words.len() <= lowered.len()
                && stop_words
                    .iter()
                    .enumerate()
                    .all(|(k, w)| lowered[i + k] == *w)
            {
                end = spans[i].0;
                break 'words;
            }
        }
        let (start, word) = spans[i];
        if at_comma && word.ends_with([',', ';', ':']) {
            end = start + word.len();
            break;
        }
    }
    trim_value(&text[..end])
}

/// A value without surrounding spaces, quotes and punctuation.
fn trim_value(text: &str) -> &str {
    text.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | '.' | '!' | '?' | ';' | ':' | '"' | '(' | ')' | '~')
    })
}

/// Drops leading words from `words`, longest phrase first, while something is left.
fn strip_leading<'a>(text: &'a str, words: &[&str]) -> &'a str {
    let mut rest = text.trim();
    while let Some(after) = words
        .iter()
        .filter_map(|w| strip_word(rest, w))
        .filter(|after| !after.is_empty())
        .min_by_key(|after| after.len())
    {
        rest = after;
    }
    rest
}

/// `text` after a leading `word` (lower case) and the space behind it. Compares the original
/// text's own prefix, so a letter whose lower case has another length never cuts a character.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let after = text.get(word.len()..)?;
    (head.to_lowercase() == word && after.starts_with(' ')).then(|| after.trim_start())
}

fn starts_with_word(text: &str, words: &[&str]) -> bool {
    let lower = text.to_lowercase();
    words.iter().any(|w| {
        lower == *w
            || (lower.starts_with(w)
                && lower[w.len()..].starts_with(|c: char| !c.is_alphanumeric()))
    })
}

/// First letter in upper case, the rest as typed.
fn title_case_word(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn title_case(text: &str) -> String {
    text.split(' ')
        .map(title_case_word)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// A place as typed, title-cased when it was typed all in lower case.
fn place_case(text: &str) -> String {
    if text.chars().any(char::is_uppercase) {
        text.to_owned()
    } else {
        title_case(text)
    }
}

/// A topic named by an unknown English noun, usable as a key segment.
fn slug(phrase: &str) -> Option<String> {
    let word = phrase.split_whitespace().last()?.to_lowercase();
    let valid = word.starts_with(|c: char| c.is_ascii_lowercase())
        && word.chars().all(|c| c.is_ascii_lowercase());
    valid.then_some(word)
}

impl RulesExtractor {
    /// Reads one user message. `last_single` is the last single-valued key the user stated
    /// in this conversation, so a bare correction ("Oh wait, 8!") knows what it corrects.
    fn read_user_message(
        &self,
        text: &str,
        lang: Lang,
        expectation: Option<(Expectation, u32)>,
        last_single: &mut Option<String>,
    ) -> Vec<(Finding, Option<u32>)> {
        let mut out: Vec<(Finding, Option<u32>)> = Vec::new();
        let mut expectation = expectation;
        for sentence in self.patterns.sentence.find_iter(text) {
            let raw = sentence.as_str().trim();
            let question = raw.contains('?');
            let body = raw.trim_end_matches(['.', '!', '?', '…', ' ']);
            if body.is_empty() {
                continue;
            }
            let future = self.patterns.future.is_match(body);
            self.allergy_with_reason(body, &mut out);
            let clauses = self.split_clauses(body);
            let last = clauses.len().saturating_sub(1);
            let hypothetical = self.patterns.hypothetical.is_match(body);
            for (position, raw_clause) in clauses.into_iter().enumerate() {
                if let Some((Expectation::Confirm(likes) | Expectation::Have(likes), index)) =
                    &expectation
                    && YES_ANSWERS.contains(&fold_case(trim_value(raw_clause)).as_str())
                {
                    out.extend(likes.iter().map(|f| (f.clone(), Some(*index))));
                    expectation = None;
                    continue;
                }
                let clause = Clause {
                    text: self.strip_clause(raw_clause),
                    opens_sentence: position == 0,
                    future,
                };
                let asked = expectation.take();
                if clause.text.is_empty() {
                    expectation = asked;
                    continue;
                }
                if hypothetical || self.is_question(clause.text, question && position == last) {
                    continue;
                }
                if self.patterns.modal.is_match(clause.text)
                    && !self.patterns.modal_goal.is_match(clause.text)
                {
                    continue;
                }
                let mut found = Vec::new();
                self.read_clause(&clause, &mut found);
                if found.is_empty()
                    && asked.is_none()
                    && self.patterns.correction.is_match(raw_clause)
                    && let Some(corrected) = last_single.as_deref().and_then(expectation_for_key)
                {
                    found = self.answer(&corrected, &clause, lang);
                }
                if let Some(single) = found.iter().rev().find(|f| {
                    f.polarity == Polarity::Assert
                        && FactKey::parse(&f.key)
                            .is_ok_and(|k| k.cardinality() == Cardinality::Single)
                }) {
                    *last_single = Some(single.key.clone());
                }
                let question_index = asked.as_ref().map(|(_, index)| *index);
                if let Some((expected, _)) = asked {
                    if found.is_empty() {
                        found = self.answer(&expected, &clause, lang);
                    } else if let Expectation::Favorite(topic) = &expected {
                        upgrade_to_favorite(&mut found, topic);
                    }
                }
                out.extend(found.into_iter().map(|f| (f, question_index)));
            }
        }
        out
    }

    /// Splits a sentence where a new subject starts: "…, I quit", "… and she is 12", but not
    /// inside a list ("pizza, ice cream and cake") nor inside a subject ("Me and my brother
    /// like …"). A run-on "hi im lily im 7" restarts at each "I'm", which stays in the clause.
    fn split_clauses<'t>(&self, sentence: &'t str) -> Vec<&'t str> {
        let mut clauses = Vec::new();
        let mut start = 0;
        for caps in self.patterns.clause_break.captures_iter(sentence) {
            let Some(found) = caps.get(0) else {
                continue;
            };
            let chunk = &sentence[start..found.start()];
            let words_before = chunk.split_whitespace().count();
            let (next_start, splits) = match caps.name("restart") {
                Some(subject) => {
                    let subordinate = starts_with_word(chunk, &["when", "if", "because", "while"]);
                    (subject.start(), words_before >= 2 && !subordinate)
                }
                None => {
                    let by_punctuation = found.as_str().contains([',', ';', ':', '-', '–', '—']);
                    (found.end(), by_punctuation || words_before >= 2)
                }
            };
            if found.start() > start && splits && self.opens_clause(&sentence[next_start..]) {
                clauses.push(chunk);
                start = next_start;
            }
        }
        clauses.push(&sentence[start..]);
        clauses
    }

    fn opens_clause(&self, rest: &str) -> bool {
        #[rustfmt::skip]
        const OPENERS: &[&str] = &[
            "i", "i'm", "im", "i've", "i'd", "i'll", "my", "we", "we're", "we've", "our", "he",
            "she", "he's", "she's", "it", "it's", "they", "they're", "his", "her", "their",
            "everyone", "everybody", "people", "you", "your", "there", "that's", "this", "oh",
            "wait", "actually", "well", "no", "yes", "yeah", "also", "but", "and", "so", "um",
            "ok", "okay", "now", "sometimes", "because", "when", "then", "dạ", "vâng", "ừ", "à",
            "còn", "nhưng", "và", "bây", "giờ", "năm", "sau", "thật", "thực", "hiện", "lớn",
            "khi", "nhà", "nó", "họ", "bạn", "mọi",
        ];
        const SELF: &[&str] = &["i", "i'm", "im", "em", "mình", "tớ", "tôi", "cháu", "tui"];
        let words: Vec<String> = rest
            .split_whitespace()
            .take(3)
            .map(|w| bare(w).to_lowercase())
            .collect();
        let Some(first) = words.first() else {
            return false;
        };
        let count = rest.split_whitespace().count();
        let second = words.get(1).map(String::as_str).unwrap_or("");
        if first == "con" || first == "bé" {
            return count >= 2 && !self.lexicon.animal_of_word.contains_key(second);
        }
        if first == "em" && matches!(second, "gái" | "trai" | "họ") {
            return count >= 3;
        }
        if SELF.contains(&first.as_str()) {
            return count >= 2;
        }
        if OPENERS.contains(&first.as_str()) {
            return count >= 3 || (count >= 2 && first == "i'm");
        }
        let two = format!("{first} {second}");
        let relation = self.lexicon.relation_of_word.contains_key(first)
            || self.lexicon.relation_of_word.contains_key(&two);
        relation && count >= 3
    }

    /// The clause without greetings, fillers and time words in front and particles behind.
    fn strip_clause<'t>(&self, clause: &'t str) -> &'t str {
        let mut text = trim_value(clause);
        loop {
            let before = text.len();
            if let Some(found) = self.patterns.discourse.find(text) {
                text = trim_value(&text[found.end()..]);
            }
            if let Some(found) = self.patterns.vi_yes_no_prefix.find(text) {
                text = trim_value(&text[found.end()..]);
            }
            if let Some(found) = self.patterns.trailing_noise.find(text) {
                text = trim_value(&text[..found.start()]);
            }
            if text.len() == before {
                return text;
            }
        }
    }

    fn is_question(&self, clause: &str, ends_with_question_mark: bool) -> bool {
        ends_with_question_mark
            || self.patterns.interrogative.is_match(clause)
            || self.patterns.vi_question.is_match(clause)
    }

    fn read_clause(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        if self.negations(clause, out) {
            return;
        }
        self.identity(clause, out);
        let _ = self.favourites(clause, out)
            || self.dislikes(clause, out)
            || self.goals(clause, out)
            || self.likes(clause, out)
            || self.habits(clause, out);
        self.possessions(clause, out);
        self.health(clause, out);
    }
}

/// What a bare correction of `key` would be an answer to ("Oh wait, 8!" after an age).
fn expectation_for_key(key: &str) -> Option<Expectation> {
    match key {
        "age" => Some(Expectation::Age),
        "name" => Some(Expectation::Name),
        "location" => Some(Expectation::Location),
        "school.grade" => Some(Expectation::Grade),
        "goal.dream_job" => Some(Expectation::DreamJob),
        _ => key
            .strip_prefix("favorite.")
            .map(|topic| Expectation::Favorite(topic.to_owned())),
    }
}

/// "I love math" in answer to "What's your favourite subject?" is a favourite.
fn upgrade_to_favorite(found: &mut [Finding], asked_topic: &str) {
    if let Some(like) = found.iter_mut().find(|f| {
        f.polarity == Polarity::Assert
            && f.key
                .strip_prefix("likes.")
                .is_some_and(|topic| topic == asked_topic || topic == "thing")
    }) {
        like.key = format!("favorite.{asked_topic}");
        like.confidence = CONTEXTUAL;
    }
}

// ---------------------------------------------------------------------------------------------
// Values

impl RulesExtractor {
    /// Liked things in a phrase: "playing football with my friends" → football (activity);
    /// "ăn kem và bánh mì" → kem, bánh mì (food).
    fn preference_items(&self, phrase: &str, at_clause_start: bool) -> Vec<Item> {
        let phrase = cut_at_stops(phrase, PREFERENCE_STOPS, false);
        let mut items = Vec::new();
        let mut verb_topic: Option<String> = None;
        for (n, piece) in self.split_list(phrase).into_iter().enumerate() {
            let (piece_verb, thing) = self.strip_verb(piece);
            if piece_verb.is_some() {
                verb_topic = piece_verb;
            }
            if let Some(item) = self.item(thing, verb_topic.as_deref(), at_clause_start && n == 0) {
                items.push(item);
            }
        }
        items
    }

    /// A list split at commas and "and"/"và", keeping lexicon phrases such as
    /// "mac and cheese" whole.
    fn split_list<'t>(&self, phrase: &'t str) -> Vec<&'t str> {
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        for sep in self.patterns.list_separator.find_iter(phrase) {
            if sep.start() > start {
                pieces.push((start, sep.start()));
            }
            start = sep.end();
        }
        if start < phrase.len() {
            pieces.push((start, phrase.len()));
        }
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for piece in pieces {
            if let Some(last) = merged.last_mut() {
                let joined = fold_case(&phrase[last.0..piece.1]);
                if self.lexicon.spelling.contains_key(&joined) {
                    last.1 = piece.1;
                    continue;
                }
            }
            merged.push(piece);
        }
        merged
            .into_iter()
            .map(|(s, e)| trim_value(&phrase[s..e]))
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Drops a leading "to" and verb ("to play", "ăn") unless the whole phrase is a lexicon
    /// word ("watching cartoons"), returning the topic the verb implies.
    fn strip_verb<'t>(&self, piece: &'t str) -> (Option<String>, &'t str) {
        let mut rest = strip_leading(piece, &["to"]);
        if self.lexicon.spelling.contains_key(&fold_case(rest)) {
            return (None, rest);
        }
        let spans = word_spans(rest);
        for n in (1..=2.min(spans.len())).rev() {
            let end = spans[n - 1].0 + spans[n - 1].1.len();
            let verb = fold_case(&rest[..end]);
            if let Some(topic) = self.lexicon.verb_topic.get(&verb) {
                let after = rest[end..].trim_start();
                if after.is_empty() {
                    return (None, rest);
                }
                rest = strip_leading(after, &["to"]);
                return (Some(topic.clone()), rest);
            }
        }
        (None, rest)
    }

    /// One liked thing, its fillers stripped and its topic found.
    fn item(&self, raw: &str, verb_topic: Option<&str>, at_clause_start: bool) -> Option<Item> {
        let mut value = trim_value(raw);
        let mut named_topic: Option<String> = None;
        loop {
            if self.lexicon.spelling.contains_key(&fold_case(value)) {
                break;
            }
            let stripped = strip_leading(value, LEADING_FILLERS);
            let lower = fold_case(stripped);
            let name = self
                .lexicon
                .topic_of_name
                .iter()
                .filter(|_| !self.lexicon.spelling.contains_key(&lower))
                .filter_map(|(name, topic)| Some((strip_word(stripped, name)?, topic)))
                .filter(|(after, _)| !after.is_empty())
                .min_by_key(|(after, _)| after.len());
            // "màu xanh dương" is the colour "xanh dương", but "rau đắng" stays whole.
            let next = match name {
                Some((after, topic)) => {
                    named_topic = Some(topic.clone());
                    let after_known = self
                        .lexicon
                        .spelling
                        .contains_key(&fold_case(strip_leading(after, LEADING_FILLERS)));
                    if after_known || after.starts_with(|c: char| c.is_uppercase()) {
                        after
                    } else {
                        stripped
                    }
                }
                None => stripped,
            };
            if next == value {
                break;
            }
            value = next;
        }
        let value = trim_value(value);
        let lower = fold_case(value);
        let words = lower.split(' ').count();
        if value.is_empty()
            || words > 6
            || starts_with_word(&lower, NOT_A_THING)
            || self.lexicon.relation_of_word.contains_key(&lower)
            || lower.chars().all(|c| c.is_ascii_digit() || c == ' ')
            || (self.lexicon.verb_topic.contains_key(&lower)
                && !self.lexicon.spelling.contains_key(&lower))
            || PREFERENCE_STOPS.contains(&lower.as_str())
        {
            return None;
        }
        let lexicon_topic = self.lexicon.topic_of(value).map(str::to_owned);
        let verb_says_food = verb_topic.is_some_and(|t| t == "food" || t == "drink");
        let (topic, guessed) = match (verb_topic, lexicon_topic, named_topic) {
            (Some(verb), Some(lexicon), _) if verb_says_food && verb != lexicon => {
                (verb.to_owned(), false)
            }
            (_, Some(lexicon), _) => (lexicon, false),
            (_, None, Some(named)) => (named, false),
            (Some(verb), None, None) => (verb.to_owned(), true),
            (None, None, None) if lower.ends_with("ing") => ("activity".to_owned(), true),
            (None, None, None) => ("thing".to_owned(), true),
        };
        Some(Item {
            value: self.spell(value, at_clause_start),
            topic,
            guessed,
        })
    }

    /// How a value is stored: the lexicon's spelling, else as typed, except a capital that
    /// only opened the sentence ("Pizza is the best" → "pizza").
    fn spell(&self, value: &str, at_clause_start: bool) -> String {
        if let Some(spelling) = self.lexicon.spelling.get(&fold_case(value)) {
            return if spelling.chars().any(char::is_uppercase) {
                spelling.clone()
            } else {
                value.to_lowercase()
            };
        }
        let mut words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
        if let Some(first) = words.first_mut() {
            let rest_lower = first.chars().skip(1).all(|c| !c.is_uppercase());
            if at_clause_start && rest_lower {
                *first = first.to_lowercase();
            }
        }
        words.join(" ")
    }

    /// Names at the start of `text` ("Tom and Jerry", "minh anh"), title-cased when typed in
    /// lower case, and how many bytes they took.
    fn names(&self, text: &str) -> (Vec<String>, usize) {
        let mut names = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        let mut capitalised: Option<bool> = None;
        let mut end = 0;
        let flush = |current: &mut Vec<&str>, names: &mut Vec<String>, capital: bool| {
            if !current.is_empty() {
                let joined = current.join(" ");
                names.push(if capital { joined } else { title_case(&joined) });
                current.clear();
            }
        };
        for (start, raw) in word_spans(text) {
            let word = bare(raw);
            let word = word.strip_suffix("'s").unwrap_or(word);
            if word.is_empty() {
                break;
            }
            let lower = word.to_lowercase();
            if matches!(lower.as_str(), "and" | "và" | "&")
                && capitalised == Some(true)
                && !current.is_empty()
            {
                flush(&mut current, &mut names, true);
                continue;
            }
            // A capital makes a name even of a word that is otherwise a stop ("An", "Na").
            let capital = is_capitalised(word);
            let stop = if capital {
                matches!(lower.as_str(), "i" | "i'm" | "im")
                    || self.lexicon.not_names.contains(&lower)
            } else {
                NAME_STOPS.contains(&lower.as_str())
            };
            if stop
                || word.chars().any(|c| c.is_ascii_digit())
                || !word
                    .chars()
                    .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
            {
                break;
            }
            match capitalised {
                None => capitalised = Some(capital),
                Some(true) if !capital => break,
                Some(false) if capital || current.len() >= 3 => break,
                _ => {}
            }
            if current.len() >= 4 {
                break;
            }
            current.push(word);
            end = start + raw.len();
            let ends_list = raw.ends_with(',');
            if ends_list {
                if capitalised == Some(true) {
                    flush(&mut current, &mut names, true);
                } else {
                    break;
                }
            }
        }
        flush(&mut current, &mut names, capitalised.unwrap_or(true));
        (names, end)
    }

    /// The first name in `text`, if it starts with one.
    fn first_name(&self, text: &str) -> Option<String> {
        self.names(text).0.into_iter().next()
    }
}

// ---------------------------------------------------------------------------------------------
// Rules

fn group<'h>(caps: &Captures<'h>, index: usize) -> Option<&'h str> {
    caps.get(index).map(|m| m.as_str())
}

impl RulesExtractor {
    fn identity(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        let text = clause.text;
        let p = &self.patterns;
        let nickname = p
            .nickname
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1).and_then(|rest| self.first_name(rest)));
        if let Some(nickname) = nickname {
            out.push(Finding::assert("nickname", nickname, DIRECT));
        } else if let Some(name) = self.name(text) {
            out.push(name);
        }
        self.age(text, out);
        self.birthday(text, out);
        self.location(text, out);
        self.school(text, out);
        for re in &p.occupation {
            if let Some(job) = re
                .captures(text)
                .and_then(|caps| group(&caps, 1))
                .map(|rest| cut_at_stops(rest, PLACE_STOPS, true))
                .and_then(|rest| self.lexicon.jobs.get(&fold_case(rest)))
            {
                out.push(Finding::assert("occupation", job.clone(), DIRECT));
                break;
            }
        }
    }

    fn name(&self, text: &str) -> Option<Finding> {
        let p = &self.patterns;
        if let Some(rest) = p
            .name
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            return self
                .first_name(rest)
                .map(|name| Finding::assert("name", name, DIRECT));
        }
        let rest = p
            .name_i_am
            .captures(text)
            .or_else(|| p.name_vi_la.captures(text))
            .and_then(|caps| group(&caps, 1))?;
        let first = bare(rest.split_whitespace().next()?);
        let is_name = is_capitalised(first)
            && !first.ends_with("'s")
            && !self.lexicon.not_names.contains(&fold_case(first))
            && !self.lexicon.is_known_word(first)
            && !self.lexicon.jobs.contains_key(&fold_case(first));
        if !is_name {
            return None;
        }
        let name = self.first_name(rest)?;
        Some(Finding::assert("name", name, CONTEXTUAL))
    }

    fn age(&self, text: &str, out: &mut Vec<Finding>) {
        let age = self
            .patterns
            .age
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1).and_then(|n| self.lexicon.number(n)));
        if let Some(age) = age.filter(|a| (1..=120).contains(a)) {
            out.push(Finding::assert("age", age.to_string(), DIRECT));
        }
    }

    fn birthday(&self, text: &str, out: &mut Vec<Finding>) {
        let p = &self.patterns;
        if let Some(rest) = p.birthday_en.captures(text).and_then(|c| group(&c, 1)) {
            if let Some(date) = self.english_date(rest) {
                out.push(Finding::assert("birthday", date, DIRECT));
            }
            return;
        }
        if let Some(caps) = p.birthday_vi.captures(text) {
            let day = group(&caps, 1).and_then(|d| d.parse::<u32>().ok());
            let month = group(&caps, 2).and_then(|m| m.parse::<u32>().ok());
            if let (Some(day), Some(month)) = (day, month)
                && (1..=31).contains(&day)
                && (1..=12).contains(&month)
            {
                out.push(Finding::assert(
                    "birthday",
                    format!("ngày {day} tháng {month}"),
                    DIRECT,
                ));
            }
            return;
        }
        if let Some(month) = p
            .birthday_vi_month
            .captures(text)
            .and_then(|c| group(&c, 1).and_then(|m| self.lexicon.number(m)))
            .filter(|m| (1..=12).contains(m))
        {
            out.push(Finding::assert(
                "birthday",
                format!("tháng {month}"),
                DIRECT,
            ));
        }
    }

    /// "March 5th", "the 5th of March", "5/3" → "March 5"; a month alone stays a month.
    fn english_date(&self, text: &str) -> Option<String> {
        let caps = self.patterns.date_en.captures(text)?;
        let day_month = |day: &str, month: &str| -> Option<String> {
            let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
            Some(format!("{} {day}", self.lexicon.month(month)?))
        };
        if let (Some(month), Some(day)) = (group(&caps, 1), group(&caps, 2)) {
            return day_month(day, month);
        }
        if let (Some(day), Some(month)) = (group(&caps, 3), group(&caps, 4)) {
            return day_month(day, month);
        }
        if let (Some(day), Some(month)) = (group(&caps, 5), group(&caps, 6)) {
            let month: usize = month.parse().ok().filter(|m| (1..=12).contains(m))?;
            let name = self.lexicon.months.get(month - 1)?;
            return day_month(day, name);
        }
        group(&caps, 7).and_then(|m| self.lexicon.month(m).map(str::to_owned))
    }

    fn location(&self, text: &str, out: &mut Vec<Finding>) {
        let Some(rest) = self
            .patterns
            .location
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        else {
            return;
        };
        if let Some(place) = self.place(rest) {
            out.push(Finding::assert("location", place, DIRECT));
        }
    }

    /// A named place: not "a house", "home" or "nhà".
    fn place(&self, rest: &str) -> Option<String> {
        let place = cut_at_stops(rest, PLACE_STOPS, true);
        let place = strip_leading(place, &["the"]);
        let lower = fold_case(place);
        let words = lower.split(' ').count();
        let named = place.split_whitespace().skip(1).any(is_capitalised);
        if place.is_empty()
            || words > 6
            || (starts_with_word(&lower, GENERIC_PLACES) && !named)
            || GENERIC_PLACES.contains(&lower.as_str())
            || !place.chars().next().is_some_and(char::is_alphabetic)
        {
            return None;
        }
        Some(place_case(place))
    }

    fn school(&self, text: &str, out: &mut Vec<Finding>) {
        let p = &self.patterns;
        let english = p.first_person_en.is_match(text)
            && !starts_with_word(text, &["i'll", "i will", "i want", "i wanna", "i hope"]);
        let vietnamese = p.first_person_vi.is_match(text);
        if let Some(rest) = p
            .school_is
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            if let Some(school) = self.school_name(rest) {
                out.push(Finding::assert("school", school, DIRECT));
            }
            return;
        }
        if !english && !vietnamese {
            return;
        }
        let grade = p
            .grade
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1).and_then(|g| self.lexicon.number(g)))
            .or_else(|| {
                p.grade_ordinal
                    .captures(text)
                    .and_then(|caps| group(&caps, 1))
                    .and_then(|o| ORDINALS.iter().position(|w| w.eq_ignore_ascii_case(o)))
                    .and_then(|i| u32::try_from(i + 1).ok())
            });
        if let Some(grade) = grade.filter(|g| (1..=12).contains(g)) {
            out.push(Finding::assert("school.grade", grade.to_string(), DIRECT));
        }
        let school = if english {
            p.school_en
                .captures(text)
                .and_then(|caps| group(&caps, 1))
                .filter(|name| {
                    let lower = name.to_lowercase();
                    lower
                        .split_whitespace()
                        .any(|word| SCHOOL_WORDS.contains(&word))
                })
                .map(|name| trim_value(name).to_owned())
        } else {
            p.school_vi
                .captures(text)
                .and_then(|caps| group(&caps, 1))
                .and_then(|rest| self.school_name(rest))
        };
        if let Some(school) = school {
            out.push(Finding::assert("school", school, DIRECT));
        }
    }

    fn school_name(&self, rest: &str) -> Option<String> {
        let name = cut_at_stops(rest, PLACE_STOPS, true);
        let name = strip_leading(name, &["the", "trường"]);
        let lower = fold_case(name);
        let pronoun = [
            "em", "con", "mình", "tớ", "tôi", "cháu", "my", "our", "học", "nào",
        ];
        if name.is_empty() || lower.split(' ').count() > 8 || starts_with_word(&lower, &pronoun) {
            return None;
        }
        Some(place_case(name))
    }

    fn favourites(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let text = clause.text;
        let p = &self.patterns;
        let before = out.len();
        if let Some(caps) = p.favorite_my.captures(text) {
            let topic = group(&caps, 1);
            if let Some(value) = group(&caps, 2) {
                self.push_favorite(topic, value, false, out);
            }
        } else if let Some(caps) = p.favorite_topic_most.captures(text) {
            if let (Some(topic), Some(value)) = (group(&caps, 1), group(&caps, 2)) {
                self.push_favorite(Some(topic), value, false, out);
            }
        } else if let Some(caps) = p
            .favorite_most
            .captures(text)
            .or_else(|| p.favorite_vi_most_first.captures(text))
            .or_else(|| p.favorite_vi_most_last.captures(text))
        {
            if let Some(value) = group(&caps, 1) {
                self.push_favorite(None, value, false, out);
            }
        } else if let Some(caps) = p.favorite_vi_topic.captures(text) {
            if let Some(value) = group(&caps, 2) {
                self.push_favorite(group(&caps, 1), value, false, out);
            }
        } else if let Some(caps) = p.best_of_topic.captures(text) {
            let value = group(&caps, 1).filter(|v| v.split_whitespace().count() <= 4);
            if let Some(value) = value {
                self.push_favorite(group(&caps, 2), value, clause.opens_sentence, out);
            }
        } else if let Some(caps) = p
            .favorite_is_my
            .captures(text)
            .or_else(|| p.favorite_vi_is.captures(text))
        {
            let value = group(&caps, 1).filter(|v| v.split_whitespace().count() <= 5);
            if let Some(value) = value {
                self.push_favorite(group(&caps, 2), value, clause.opens_sentence, out);
            }
        }
        out.len() > before
    }

    /// The favourite named in `value`, filed under the topic the user named, else the
    /// topic of the thing itself.
    fn push_favorite(
        &self,
        topic_phrase: Option<&str>,
        value: &str,
        at_clause_start: bool,
        out: &mut Vec<Finding>,
    ) {
        let Some(item) = self
            .preference_items(value, at_clause_start)
            .into_iter()
            .next()
        else {
            return;
        };
        let named = topic_phrase
            .map(|t| cut_at_stops(t, PREFERENCE_STOPS, false))
            .filter(|t| !t.is_empty())
            .and_then(|t| self.lexicon.topic_named(t).or_else(|| slug(t)))
            .filter(|t| !matches!(t.as_str(), "one" | "thing" | "things"));
        let (topic, confidence) = match named {
            Some(topic) => (topic, DIRECT),
            None if item.guessed => (item.topic, WEAK),
            None => (item.topic, DIRECT),
        };
        out.push(Finding::assert(
            format!("favorite.{topic}"),
            item.value,
            confidence,
        ));
    }

    fn dislikes(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let text = clause.text;
        let p = &self.patterns;
        let (phrase, at_start) = match p.dislike.iter().find_map(|re| re.captures(text)) {
            Some(caps) => (group(&caps, 1), false),
            None => match p.dislike_yucky.captures(text) {
                Some(caps) => (
                    group(&caps, 1).filter(|v| v.split_whitespace().count() <= 3),
                    clause.opens_sentence,
                ),
                None => return false,
            },
        };
        let before = out.len();
        for item in phrase
            .map(|ph| self.preference_items(ph, at_start))
            .unwrap_or_default()
        {
            let confidence = if item.guessed { WEAK } else { DIRECT };
            out.push(Finding::assert(
                format!("dislikes.{}", item.topic),
                item.value,
                confidence,
            ));
        }
        out.len() > before
    }

    fn likes(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let Some(phrase) = self
            .patterns
            .like
            .iter()
            .find_map(|re| re.captures(clause.text))
            .and_then(|caps| group(&caps, 1))
        else {
            return false;
        };
        let before = out.len();
        // "I love my dog Max" says who the dog is; "I love my mom" that she exists.
        if starts_with_word(phrase, &["my", "our"]) {
            let mut owned = Vec::new();
            if let Some(caps) = self.patterns.pet_capital.captures(phrase)
                && let (Some(animal), Some(name)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal))
            {
                owned.push(Finding::assert(format!("pet.{slug}"), name, DIRECT).with_name());
            } else {
                self.possession_list(phrase, &mut owned);
            }
            let said_relative_or_pet = !owned.is_empty();
            out.extend(owned);
            if said_relative_or_pet {
                return true;
            }
        }
        for item in self.preference_items(phrase, false) {
            let confidence = if item.guessed { WEAK } else { DIRECT };
            out.push(Finding::assert(
                format!("likes.{}", item.topic),
                item.value,
                confidence,
            ));
        }
        out.len() > before
    }

    /// "I play the piano", "Em học võ": an activity the lexicon knows, done regularly.
    fn habits(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let Some(phrase) = self
            .patterns
            .habit
            .iter()
            .find_map(|re| re.captures(clause.text))
            .and_then(|caps| group(&caps, 1))
        else {
            return false;
        };
        let before = out.len();
        for item in self.preference_items(phrase, false) {
            if item.topic == "activity" && !item.guessed {
                out.push(Finding::assert("likes.activity", item.value, HABIT));
            }
        }
        out.len() > before
    }

    fn goals(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let p = &self.patterns;
        let (verb, phrase, dream) =
            if let Some(caps) = p.goal.iter().find_map(|re| re.captures(clause.text)) {
                (group(&caps, 1).unwrap_or(""), group(&caps, 2), false)
            } else if let Some(caps) = p.dream.iter().find_map(|re| re.captures(clause.text)) {
                ("", group(&caps, 1), true)
            } else {
                return false;
            };
        let Some(phrase) = phrase else {
            return false;
        };
        let verb = verb.to_lowercase();
        let only_with_future = matches!(verb.as_str(), "will" | "'ll" | "shall" | "sẽ");
        let only_jobs = verb == "thích";
        let phrase = cut_at_stops(phrase, PLACE_STOPS, true);
        let phrase = cut_at_stops(
            phrase,
            &["when", "because", "like", "khi", "vì", "giống"],
            false,
        );
        let job = self.lexicon.job_in(phrase);
        let has_article = starts_with_word(phrase, &["a", "an", "một"]);
        let value = match job {
            Some(job) if !only_with_future || clause.future => job,
            Some(_) => return false,
            None if only_jobs => return false,
            None if dream || (clause.future && has_article) => {
                let bare_phrase = strip_leading(phrase, &["a", "an", "the", "một"]);
                if bare_phrase.is_empty() || bare_phrase.split_whitespace().count() > 4 {
                    return false;
                }
                bare_phrase.to_lowercase()
            }
            None => return false,
        };
        out.push(Finding::assert("goal.dream_job", value, DIRECT));
        true
    }

    /// Pets and relatives: "I have a cat named Mochi", "Em có một chị gái tên là Hoa",
    /// "My grandma lives with us", "My dog Max …".
    fn possessions(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        let text = clause.text;
        let p = &self.patterns;
        if let Some(rest) = p
            .have
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            self.possession_list(rest, out);
            return;
        }
        if let Some(rest) = p.live_with.captures(text).and_then(|caps| group(&caps, 1)) {
            self.possession_list(rest, out);
            return;
        }
        for re in &p.pet_named {
            if let Some(caps) = re.captures(text)
                && let (Some(animal), Some(rest)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal))
            {
                for name in self.names(rest).0 {
                    out.push(Finding::assert(format!("pet.{slug}"), name, DIRECT).with_name());
                }
                return;
            }
        }
        if let Some(caps) = p.pet_capital.captures(text)
            && let (Some(animal), Some(name)) = (group(&caps, 1), group(&caps, 2))
            && let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal))
            && !self.lexicon.not_names.contains(&fold_case(name))
        {
            out.push(Finding::assert(format!("pet.{slug}"), name, DIRECT).with_name());
            return;
        }
        for re in &p.family_named {
            if let Some(caps) = re.captures(text)
                && let (Some(relation), Some(rest)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
            {
                let introduced_by_la = fold_case(&text[..caps.get(2).map_or(0, |m| m.start())])
                    .trim_end()
                    .ends_with(" là");
                // "Mẹ em là Hoa" names her; "Mẹ em là giáo viên" does not.
                if introduced_by_la && !rest.starts_with(|c: char| c.is_uppercase()) {
                    break;
                }
                for name in self.names(rest).0 {
                    out.push(Finding::assert(format!("family.{slug}"), name, DIRECT).with_name());
                }
                return;
            }
        }
        if let Some(caps) = p.family_capital.captures(text)
            && let (Some(relation), Some(name)) = (group(&caps, 1), group(&caps, 2))
            && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
            && !self.lexicon.not_names.contains(&fold_case(name))
        {
            out.push(Finding::assert(format!("family.{slug}"), name, DIRECT).with_name());
            return;
        }
        for re in &p.family_lives_with {
            if let Some(relation) = re.captures(text).and_then(|caps| group(&caps, 1))
                && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
            {
                out.push(Finding::assert(
                    format!("family.{slug}"),
                    relation.to_lowercase(),
                    DIRECT,
                ));
                return;
            }
        }
        for re in &p.family_job {
            if let Some(caps) = re.captures(text)
                && let (Some(relation), Some(rest)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
                && let Some(job) =
                    self.lexicon
                        .jobs
                        .get(&fold_case(cut_at_stops(rest, PLACE_STOPS, true)))
            {
                out.push(
                    Finding::assert(
                        format!("family.{slug}"),
                        format!("{} ({job})", relation.to_lowercase()),
                        DIRECT,
                    )
                    .with_job(job),
                );
                return;
            }
        }
        // Whatever else is said about a relative, the user has one ("My sister loves pink").
        if let Some(relation) = p
            .family_mention
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
            && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
        {
            out.push(Finding::assert(
                format!("family.{slug}"),
                relation.to_lowercase(),
                WEAK,
            ));
        }
    }

    /// "a dog called Max and two cats", "một chị gái tên là Hoa và một con mèo".
    fn possession_list(&self, list: &str, out: &mut Vec<Finding>) {
        let p = &self.patterns;
        let mut rest = list;
        loop {
            let before = rest.len();
            if let Some(caps) = p.pet_item.captures(rest) {
                let end = caps.get(0).map_or(0, |m| m.end());
                let count = group(&caps, 1).map(str::to_lowercase);
                let animal = group(&caps, 2).unwrap_or_default();
                let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal)) else {
                    return;
                };
                // "two cats", "ba con mèo": the count as typed, up to the animal.
                let counted = match (caps.get(1), caps.get(2)) {
                    (Some(c), Some(a)) => rest[c.start()..a.end()].to_lowercase(),
                    _ => animal.to_lowercase(),
                };
                rest = &rest[end..];
                let names = if group(&caps, 3).is_some() {
                    let (names, used) = self.names(rest);
                    rest = &rest[used..];
                    names
                } else {
                    Vec::new()
                };
                let key = format!("pet.{slug}");
                if names.is_empty() {
                    let single = count
                        .as_deref()
                        .is_none_or(|c| matches!(c, "a" | "an" | "one" | "my" | "our" | "một"));
                    let value = if single {
                        animal.to_lowercase()
                    } else {
                        counted
                    };
                    out.push(Finding::assert(key, value, DIRECT));
                } else {
                    for name in names {
                        out.push(Finding::assert(key.clone(), name, DIRECT).with_name());
                    }
                }
            } else if let Some(caps) = p.family_item.captures(rest) {
                let end = caps.get(0).map_or(0, |m| m.end());
                let relation = group(&caps, 2).unwrap_or_default();
                let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation)) else {
                    return;
                };
                let after = &rest[caps.get(2).map_or(end, |m| m.end())..];
                if p.not_family_after.is_match(after) {
                    return;
                }
                rest = &rest[end..];
                let names = if group(&caps, 3).is_some() {
                    let (names, used) = self.names(rest);
                    rest = &rest[used..];
                    names
                } else {
                    Vec::new()
                };
                let key = format!("family.{slug}");
                if names.is_empty() {
                    let count = group(&caps, 1).map(str::to_lowercase);
                    let single = count
                        .as_deref()
                        .is_none_or(|c| matches!(c, "a" | "an" | "one" | "my" | "our" | "một"));
                    let value = match (&count, single) {
                        (Some(count), false) => format!("{count} {}", relation.to_lowercase()),
                        _ => relation.to_lowercase(),
                    };
                    out.push(Finding::assert(key, value, DIRECT));
                } else {
                    for name in names {
                        out.push(Finding::assert(key.clone(), name, DIRECT).with_name());
                    }
                }
            } else {
                return;
            }
            match p.item_separator.find(rest) {
                Some(sep) => rest = &rest[sep.end()..],
                // "ông bà", "bố mẹ": relatives may follow each other without a separator.
                None if p.family_item.is_match(rest) && !rest.trim().is_empty() => {}
                None => return,
            }
            if rest.len() >= before {
                return;
            }
        }
    }

    /// "I can't eat shrimp because I'm allergic": the allergen and the allergy are in
    /// different clauses, so this reads the whole sentence.
    fn allergy_with_reason(&self, sentence: &str, out: &mut Vec<(Finding, Option<u32>)>) {
        let text = self.strip_clause(sentence);
        if let Some(phrase) = self
            .patterns
            .allergy_because
            .captures(text)
            .and_then(|caps| group(&caps, 1))
        {
            for piece in self.split_list(phrase) {
                let value = fold_case(strip_leading(piece, LEADING_FILLERS));
                if !value.is_empty() && !starts_with_word(&value, NOT_A_THING) {
                    out.push((Finding::assert("health.allergy", value, DIRECT), None));
                }
            }
        }
    }

    fn health(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        let text = clause.text;
        let p = &self.patterns;
        if let Some(phrase) = p
            .allergy
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            let phrase = cut_at_stops(phrase, PREFERENCE_STOPS, true);
            for piece in self.split_list(phrase) {
                let value = strip_leading(piece, LEADING_FILLERS);
                let lower = fold_case(value);
                if !value.is_empty() && !starts_with_word(&lower, NOT_A_THING) {
                    out.push(Finding::assert("health.allergy", lower, DIRECT));
                }
            }
        }
        if let Some(diet) = p
            .diet
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            out.push(Finding::assert("health.diet", fold_case(diet), DIRECT));
        } else if let Some((index, food)) = p.diet_avoid.iter().enumerate().find_map(|(i, re)| {
            re.captures(text)
                .and_then(|caps| group(&caps, 1))
                .map(|f| (i, f))
        }) {
            let value = if index == 0 {
                format!("no {}", food.to_lowercase())
            } else {
                format!("không ăn {}", food.to_lowercase())
            };
            out.push(Finding::assert("health.diet", value, DIRECT));
        }
    }

    /// Statements that something no longer holds. True when the clause was one, so nothing
    /// else is read from it ("My hamster Bean died" must not also add the hamster).
    fn negations(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let text = clause.text;
        let p = &self.patterns;
        if let Some(caps) = p.pet_gone_en.captures(text) {
            if let Some(slug) =
                group(&caps, 1).and_then(|a| self.lexicon.animal_of_word.get(&fold_case(a)))
            {
                let name = group(&caps, 2).map(str::to_owned);
                out.push(Finding::negate(format!("pet.{slug}"), name, DIRECT));
            }
            return true;
        }
        if let Some(name) = p.name_gone_en.captures(text).and_then(|c| group(&c, 1))
            && !self.lexicon.is_known_word(name)
            && !self.lexicon.not_names.contains(&fold_case(name))
        {
            out.push(Finding::negate("pet", Some(name.to_owned()), WEAK));
            return true;
        }
        if let Some(caps) = p.pet_gone_vi.captures(text) {
            let middle = group(&caps, 2).unwrap_or_default();
            let mine = middle.split_whitespace().any(|w| {
                ["em", "con", "mình", "tớ", "tôi", "cháu"].contains(&fold_case(w).as_str())
            });
            let name = middle
                .split_whitespace()
                .map(bare)
                .find(|w| is_capitalised(w) && !NAME_STOPS.contains(&fold_case(w).as_str()))
                .map(str::to_owned);
            if let Some(slug) =
                group(&caps, 1).and_then(|a| self.lexicon.animal_of_word.get(&fold_case(a)))
                && (mine || name.is_some())
            {
                out.push(Finding::negate(format!("pet.{slug}"), name, DIRECT));
                return true;
            }
        }
        if let Some(caps) = p.pet_lost_vi.captures(text)
            && let Some(slug) =
                group(&caps, 1).and_then(|a| self.lexicon.animal_of_word.get(&fold_case(a)))
        {
            let name = group(&caps, 2).and_then(|rest| {
                let rest = strip_leading(rest.trim(), &["tên là", "tên", "của em", "của con"]);
                rest.split_whitespace()
                    .map(bare)
                    .next()
                    .filter(|w| is_capitalised(w))
                    .map(str::to_owned)
            });
            out.push(Finding::negate(format!("pet.{slug}"), name, DIRECT));
            return true;
        }
        if let Some(animal) = p
            .no_pet
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            let key = match self.lexicon.animal_of_word.get(&fold_case(animal)) {
                Some(slug) => format!("pet.{slug}"),
                None => "pet".to_owned(),
            };
            out.push(Finding::negate(key, None, DIRECT));
            return true;
        }
        self.negated_statement(text, out)
    }

    /// "I don't play the piano anymore", "I quit football", "Em không chơi cờ vua nữa".
    fn negated_statement(&self, text: &str, out: &mut Vec<Finding>) -> bool {
        let p = &self.patterns;
        let without_anymore = p.anymore.replace_all(text, "");
        let said_anymore = without_anymore.len() != text.len();
        let english = if said_anymore || starts_with_word(text, &["i no longer", "we no longer"]) {
            p.negated_en
                .captures(&without_anymore)
                .and_then(|caps| {
                    Some((group(&caps, 1)?.to_lowercase(), group(&caps, 2)?.to_owned()))
                })
                .map(|(verb, rest)| (verb, rest, DIRECT))
        } else {
            None
        };
        let english = english
            .or_else(|| {
                p.not_favorite_en
                    .captures(&without_anymore)
                    .and_then(|caps| {
                        let value = group(&caps, 1)?;
                        let topic = group(&caps, 2).unwrap_or("");
                        Some((format!("favorite {topic}"), value.to_owned(), DIRECT))
                    })
            })
            .or_else(|| {
                p.used_to_en.captures(text).and_then(|caps| {
                    Some((
                        group(&caps, 1)?.to_lowercase(),
                        group(&caps, 2)?.to_owned(),
                        WEAK,
                    ))
                })
            })
            .or_else(|| {
                p.quit_en
                    .captures(text)
                    .and_then(|caps| Some(("quit".to_owned(), group(&caps, 1)?.to_owned(), DIRECT)))
            });
        if let Some((verb, rest, confidence)) = english {
            self.push_negation(&verb, &rest, confidence, out);
            return true;
        }
        let Some(caps) = p.negated_vi.captures(text) else {
            return false;
        };
        let negator = group(&caps, 1).map(fold_case).unwrap_or_default();
        let verb = group(&caps, 2).map(fold_case).unwrap_or_default();
        let rest = group(&caps, 3).unwrap_or_default();
        let particles = ["ạ", "đâu", "rồi", "luôn", "nha", "nhé", "á"];
        let mut words: Vec<&str> = rest.split_whitespace().collect();
        while words
            .last()
            .is_some_and(|w| particles.contains(&fold_case(bare(w)).as_str()))
        {
            words.pop();
        }
        let said_nua = words.last().is_some_and(|w| fold_case(bare(w)) == "nữa");
        if said_nua {
            words.pop();
        }
        let plain_no = matches!(negator.as_str(), "không" | "chẳng" | "ko" | "hông");
        if plain_no && !said_nua {
            return false;
        }
        let rest = words.join(" ");
        let verb = match verb.as_str() {
            "" => "thích",
            v => v,
        };
        self.push_negation(verb, &rest, DIRECT, out);
        true
    }

    fn push_negation(&self, verb: &str, rest: &str, confidence: f64, out: &mut Vec<Finding>) {
        match verb {
            "have" | "own" | "nuôi" | "có" => {
                let mut owned = Vec::new();
                self.possession_list(rest, &mut owned);
                for pet in owned.into_iter().filter(|f| f.key.starts_with("pet.")) {
                    let name = (pet.shape == Shape::Named).then_some(pet.value).flatten();
                    out.push(Finding::negate(pet.key, name, confidence));
                }
            }
            "live in" | "sống ở" | "ở" => {
                if let Some(place) = self.place(rest) {
                    out.push(Finding::negate("location", Some(place), confidence));
                }
            }
            "allergic to"
            | "be allergic to"
            | "bị dị ứng với"
            | "bị dị ứng"
            | "dị ứng với"
            | "dị ứng" => {
                for piece in self.split_list(cut_at_stops(rest, PLACE_STOPS, true)) {
                    let value = fold_case(strip_leading(piece, LEADING_FILLERS));
                    out.push(Finding::negate("health.allergy", Some(value), confidence));
                }
            }
            "want to be" | "want to become" | "wanna be" | "muốn làm" | "muốn trở thành" => {
                let phrase = cut_at_stops(rest, PLACE_STOPS, true);
                let job = self.lexicon.job_in(phrase).unwrap_or_else(|| {
                    strip_leading(phrase, &["a", "an", "the", "một"]).to_lowercase()
                });
                if !job.is_empty() {
                    out.push(Finding::negate("goal.dream_job", Some(job), confidence));
                }
            }
            _ => {
                let only_favorite = verb.starts_with("favorite");
                let topic_phrase = verb.strip_prefix("favorite").map(str::trim);
                let verb_topic = match verb {
                    "eat" | "ăn" => Some("food"),
                    "drink" | "uống" => Some("drink"),
                    "play" | "do" | "go" | "go to" | "take" | "learn" | "practice" | "practise"
                    | "quit" | "chơi" | "tập" | "học" | "đi học" | "đi tập" => {
                        Some("activity")
                    }
                    _ => None,
                };
                for item in self.preference_items(rest, false) {
                    let topic = topic_phrase
                        .filter(|t| !t.is_empty())
                        .and_then(|t| self.lexicon.topic_named(t).or_else(|| slug(t)))
                        .unwrap_or_else(|| match (item.guessed, verb_topic) {
                            (true, Some(topic)) => topic.to_owned(),
                            _ => item.topic.clone(),
                        });
                    if !only_favorite {
                        out.push(Finding::negate(
                            format!("likes.{topic}"),
                            Some(item.value.clone()),
                            confidence,
                        ));
                    }
                    out.push(Finding::negate(
                        format!("favorite.{topic}"),
                        Some(item.value),
                        confidence,
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The assistant's questions

impl RulesExtractor {
    /// What the assistant's last question asks, if a short answer to it would be a fact.
    fn expectation(&self, content: &str) -> Option<Expectation> {
        let text = normalise_message(content);
        let question = self
            .patterns
            .sentence
            .find_iter(&text)
            .map(|s| s.as_str().trim())
            .filter(|s| s.ends_with('?'))
            .last()?;
        let body = trim_value(question);
        let p = &self.patterns;
        if let Some(topic) = p
            .ask_favorite
            .iter()
            .find_map(|re| re.captures(body))
            .and_then(|caps| group(&caps, 1))
            .and_then(|phrase| self.lexicon.topic_named(phrase).or_else(|| slug(phrase)))
        {
            return Some(Expectation::Favorite(topic));
        }
        if let Some(topic) = p
            .ask_favorite_by_verb
            .iter()
            .find_map(|re| re.captures(body))
            .and_then(|caps| group(&caps, 1))
            .and_then(|verb| self.lexicon.verb_topic.get(&fold_case(verb)))
        {
            return Some(Expectation::Favorite(topic.clone()));
        }
        if p.ask_age.is_match(body) {
            return Some(Expectation::Age);
        }
        if p.ask_name.is_match(body) {
            return Some(Expectation::Name);
        }
        if p.ask_location.is_match(body) {
            return Some(Expectation::Location);
        }
        if p.ask_grade.is_match(body) {
            return Some(Expectation::Grade);
        }
        if p.ask_dream.is_match(body) {
            return Some(Expectation::DreamJob);
        }
        let asked = self.strip_clause(body);
        let liked = p
            .ask_like
            .iter()
            .find_map(|re| re.captures(asked))
            .and_then(|caps| group(&caps, 1));
        if liked.is_none()
            && let Some(phrase) = p
                .ask_have
                .iter()
                .find_map(|re| re.captures(asked))
                .and_then(|caps| group(&caps, 1))
        {
            let mut named = Vec::new();
            self.possession_list(phrase, &mut named);
            return Some(Expectation::Have(named));
        }
        let likes: Vec<Finding> = self
            .preference_items(liked?, false)
            .into_iter()
            .map(|item| Finding::assert(format!("likes.{}", item.topic), item.value, WEAK))
            .collect();
        (!likes.is_empty()).then_some(Expectation::Confirm(likes))
    }

    /// A short reply read as the answer to the question ("Math!", "Eight", "Màu hồng ạ").
    fn answer(&self, expected: &Expectation, clause: &Clause<'_>, lang: Lang) -> Vec<Finding> {
        let p = &self.patterns;
        let text = match p.answer_prefix.find(clause.text) {
            Some(found) => trim_value(&clause.text[found.end()..]),
            None => clause.text,
        };
        let lower = fold_case(text);
        if let Expectation::Confirm(likes) = expected {
            return if YES_ANSWERS.contains(&lower.as_str()) {
                likes.clone()
            } else {
                Vec::new()
            };
        }
        if let Expectation::Have(_) = expected {
            let mut owned = Vec::new();
            self.possession_list(text, &mut owned);
            for finding in &mut owned {
                finding.confidence = CONTEXTUAL;
            }
            return owned;
        }
        let words = lower.split(' ').count();
        let first = lower.split(' ').next().unwrap_or_default();
        let pronoun_first = [
            "i", "i'm", "im", "my", "me", "we", "em", "mình", "tớ", "tôi", "cháu",
        ]
        .contains(&first)
            || (first == "con"
                && !lower
                    .split(' ')
                    .nth(1)
                    .is_some_and(|w| self.lexicon.animal_of_word.contains_key(w)));
        if text.is_empty()
            || words > if lang == Lang::Vi { 5 } else { 4 }
            || pronoun_first
            || NON_ANSWERS.contains(&lower.as_str())
        {
            return Vec::new();
        }
        let finding = match expected {
            Expectation::Favorite(topic) => self
                .preference_items(text, true)
                .into_iter()
                .next()
                .map(|item| Finding::assert(format!("favorite.{topic}"), item.value, CONTEXTUAL)),
            Expectation::Age => p
                .answer_age
                .captures(text)
                .and_then(|caps| group(&caps, 1).and_then(|n| self.lexicon.number(n)))
                .filter(|a| (1..=120).contains(a))
                .map(|age| Finding::assert("age", age.to_string(), CONTEXTUAL)),
            Expectation::Name => self
                .first_name(text)
                .filter(|name| !self.lexicon.is_known_word(name))
                .map(|name| Finding::assert("name", name, CONTEXTUAL)),
            Expectation::Location => self
                .place(text)
                .map(|place| Finding::assert("location", place, CONTEXTUAL)),
            Expectation::Grade => p
                .answer_grade
                .captures(text)
                .and_then(|caps| group(&caps, 1).and_then(|g| self.lexicon.number(g)))
                .filter(|g| (1..=12).contains(g))
                .map(|grade| Finding::assert("school.grade", grade.to_string(), CONTEXTUAL)),
            Expectation::DreamJob => {
                let phrase = strip_leading(text, &["a", "an", "the", "một", "làm", "trở thành"]);
                self.lexicon
                    .job_in(phrase)
                    .or_else(|| {
                        (phrase.split_whitespace().count() <= 3).then(|| phrase.to_lowercase())
                    })
                    .map(|job| Finding::assert("goal.dream_job", job, CONTEXTUAL))
            }
            Expectation::Confirm(_) | Expectation::Have(_) => None,
        };
        finding.into_iter().collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Candidates

impl RulesExtractor {
    fn candidate(
        &self,
        finding: Finding,
        lang: Lang,
        message_indexes: Vec<u32>,
    ) -> Option<Candidate> {
        let key = FactKey::parse(&finding.key)
            .or_else(|_| {
                let family = finding.key.split('.').next().unwrap_or_default();
                FactKey::parse(&format!("{family}.thing"))
            })
            .ok()?;
        let value = match &finding.value {
            Some(value) => Some(FactValue::parse(value).ok()?),
            None => None,
        };
        let sentence = self.describe(&key, value.as_ref().map(FactValue::as_str), &finding, lang);
        Some(Candidate {
            text: FactText::parse(&sentence).ok()?,
            confidence: Confidence::new(finding.confidence).ok()?,
            language: Language::parse(lang.tag()).ok()?,
            polarity: finding.polarity,
            key,
            value,
            message_indexes,
        })
    }

    /// A readable sentence stating the fact in the conversation's language.
    fn describe(
        &self,
        key: &FactKey,
        value: Option<&str>,
        finding: &Finding,
        lang: Lang,
    ) -> String {
        let topic = key.topic();
        let label = |labels: &HashMap<String, Label>| {
            labels
                .get(topic)
                .map_or_else(|| topic.replace('_', " "), |l| l.get(lang).to_owned())
        };
        let relation = label(&self.lexicon.relation_labels);
        let animal = label(&self.lexicon.animal_labels);
        let v = value.unwrap_or_default();
        // "two cats", "hai anh trai": a counted value says itself.
        let counted = v.split_whitespace().count() > 1;
        let assertion = match (key.family(), &finding.shape, lang) {
            ("name", _, Lang::En) => format!("Name is {v}"),
            ("name", _, Lang::Vi) => format!("Tên là {v}"),
            ("nickname", _, Lang::En) => format!("Nickname is {v}"),
            ("nickname", _, Lang::Vi) => format!("Biệt danh là {v}"),
            ("age", _, Lang::En) => format!("Is {v} years old"),
            ("age", _, Lang::Vi) => format!("{v} tuổi"),
            ("birthday", _, Lang::En) => format!("Birthday is {v}"),
            ("birthday", _, Lang::Vi) => format!("Sinh nhật vào {v}"),
            ("location", _, Lang::En) => format!("Lives in {v}"),
            ("location", _, Lang::Vi) => format!("Sống ở {v}"),
            ("school", _, Lang::En) if topic == "grade" => format!("Is in grade {v}"),
            ("school", _, Lang::Vi) if topic == "grade" => format!("Học lớp {v}"),
            ("school", _, Lang::En) => format!("Goes to {v}"),
            ("school", _, Lang::Vi) => format!("Học ở trường {v}"),
            ("occupation", _, Lang::En) => format!("Occupation: {v}"),
            ("occupation", _, Lang::Vi) => format!("Làm nghề {v}"),
            ("favorite", _, Lang::En) => {
                format!("Favourite {} is {v}", self.lexicon.topic_label(topic, lang))
            }
            ("favorite", _, Lang::Vi) => format!(
                "{} yêu thích là {v}",
                title_case_word(&self.lexicon.topic_label(topic, lang))
            ),
            ("likes", _, Lang::En) => format!("Likes {v}"),
            ("likes", _, Lang::Vi) => format!("Thích {v}"),
            ("dislikes", _, Lang::En) => format!("Does not like {v}"),
            ("dislikes", _, Lang::Vi) => format!("Không thích {v}"),
            ("family", Shape::Named, Lang::En) => format!("Has a {relation} named {v}"),
            ("family", Shape::Named, Lang::Vi) => format!("Có {relation} tên là {v}"),
            ("family", Shape::Job(job), Lang::En) => {
                format!("{} is a {job}", title_case_word(&relation))
            }
            ("family", Shape::Job(job), Lang::Vi) => {
                format!("{} là {job}", title_case_word(&relation))
            }
            ("family", _, Lang::En) if counted => format!("Has {v}"),
            ("family", _, Lang::Vi) if counted => format!("Có {v}"),
            ("family", _, Lang::En) => format!("Has a {relation}"),
            ("family", _, Lang::Vi) => format!("Có {relation}"),
            ("pet", _, Lang::En) if topic.is_empty() => "Has a pet".to_owned(),
            ("pet", _, Lang::Vi) if topic.is_empty() => "Có thú cưng".to_owned(),
            ("pet", Shape::Named, Lang::En) => format!("Has a pet {animal} named {v}"),
            ("pet", Shape::Named, Lang::Vi) => format!("Có con {animal} tên là {v}"),
            ("pet", _, Lang::En) if counted => format!("Has {v}"),
            ("pet", _, Lang::En) => format!("Has a pet {v}"),
            ("pet", _, Lang::Vi) => format!("Nuôi {v}"),
            ("health", _, Lang::En) if topic == "allergy" => format!("Is allergic to {v}"),
            ("health", _, Lang::Vi) if topic == "allergy" => format!("Bị dị ứng {v}"),
            ("health", _, Lang::En) => format!("Diet: {v}"),
            ("health", _, Lang::Vi) => format!("Chế độ ăn: {v}"),
            ("goal", _, Lang::En) => format!("Dream job: {v}"),
            ("goal", _, Lang::Vi) => format!("Ước mơ làm {v}"),
            (_, _, Lang::En) | (_, _, Lang::Vi) => format!("{key}: {v}"),
        };
        if finding.polarity == Polarity::Assert {
            return assertion;
        }
        match (key.family(), value, lang) {
            ("pet", None, Lang::En) if topic.is_empty() => "No longer has a pet".to_owned(),
            ("pet", None, Lang::Vi) if topic.is_empty() => "Không còn nuôi thú cưng".to_owned(),
            ("pet", None, Lang::En) => format!("No longer has a pet {animal}"),
            ("pet", None, Lang::Vi) => format!("Không còn nuôi {animal}"),
            ("pet", Some(name), Lang::En) => format!("No longer has the pet {name}"),
            ("pet", Some(name), Lang::Vi) => format!("Không còn nuôi {name}"),
            ("likes", Some(thing), Lang::En) => format!("No longer likes {thing}"),
            ("likes", Some(thing), Lang::Vi) => format!("Không còn thích {thing} nữa"),
            (_, _, Lang::En) => format!("No longer true: {assertion}"),
            (_, _, Lang::Vi) => format!("Không còn đúng: {assertion}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor() -> &'static RulesExtractor {
        static EXTRACTOR: std::sync::LazyLock<RulesExtractor> =
            std::sync::LazyLock::new(RulesExtractor::new);
        &EXTRACTOR
    }

    fn user(text: &str) -> ChatMessage {
        ChatMessage::new(Role::User, text).expect("a valid message")
    }

    fn assistant(text: &str) -> ChatMessage {
        ChatMessage::new(Role::Assistant, text).expect("a valid message")
    }

    /// `key=value` for asserts, `!key=value` for negations, in order.
    fn read(messages: &[ChatMessage]) -> Vec<String> {
        extractor()
            .extract_messages(messages)
            .into_iter()
            .map(|c| {
                let sign = if c.polarity == Polarity::Negate {
                    "!"
                } else {
                    ""
                };
                let value = c.value.as_ref().map_or("-", FactValue::as_str).to_owned();
                format!("{sign}{}={value}", c.key)
            })
            .collect()
    }

    fn says(text: &str) -> Vec<String> {
        read(&[user(text)])
    }

    #[test]
    fn the_bundled_lexicon_compiles() {
        assert!(RulesExtractor::from_lexicon_str(BUNDLED_LEXICON).is_ok());
        assert!(RulesExtractor::from_lexicon_str("not = [toml").is_err());
    }

    #[test]
    fn favourites_named_by_topic_in_both_languages() {
        assert_eq!(
            says("My favourite sport is basketball."),
            ["favorite.sport=basketball"]
        );
        assert_eq!(says("Blue is my favorite colour!"), ["favorite.color=blue"]);
        assert_eq!(says("Em thích nhất màu hồng."), ["favorite.color=hồng"]);
        assert_eq!(
            says("Con vật yêu thích của con là con mèo."),
            ["favorite.animal=mèo"]
        );
        assert_eq!(
            says("I like dinosaurs the most"),
            ["favorite.dinosaur=dinosaurs"]
        );
    }

    #[test]
    fn pets_with_and_without_names() {
        assert_eq!(says("I have two cats."), ["pet.cat=two cats"]);
        assert_eq!(
            says("We have a dog named Max and a cat called Mochi."),
            ["pet.dog=Max", "pet.cat=Mochi"]
        );
        assert_eq!(says("My dog Lucky is so funny."), ["pet.dog=Lucky"]);
        assert_eq!(
            says("Em nuôi hai con mèo tên là Mun và Mướp."),
            ["pet.cat=Mun", "pet.cat=Mướp"]
        );
    }

    #[test]
    fn vietnamese_identity() {
        assert_eq!(says("Tên em là Lan."), ["name=Lan"]);
        assert_eq!(says("Em 10 tuổi."), ["age=10"]);
        assert_eq!(says("Năm nay con tám tuổi rồi."), ["age=8"]);
        assert_eq!(
            says("Sinh nhật của em là ngày 5 tháng 3."),
            ["birthday=ngày 5 tháng 3"]
        );
        assert_eq!(says("Nhà em ở Đà Nẵng."), ["location=Đà Nẵng"]);
    }

    #[test]
    fn vietnamese_likes_fall_back_to_a_topic() {
        assert_eq!(says("Em rất thích vẽ."), ["likes.activity=vẽ"]);
        assert_eq!(says("Con thích uống trà sữa lắm."), ["likes.drink=trà sữa"]);
        assert_eq!(
            says("Em thích ăn bún riêu cua."),
            ["likes.food=bún riêu cua"]
        );
        assert_eq!(
            says("Em thích chơi ô ăn quan."),
            ["likes.activity=ô ăn quan"]
        );
    }

    #[test]
    fn english_likes_strip_verbs_and_noise() {
        assert_eq!(
            says("I really like drawing and reading books at night"),
            ["likes.activity=drawing", "likes.activity=reading books"]
        );
        assert_eq!(
            says("I like to eat sushi with my dad"),
            ["likes.food=sushi"]
        );
        assert_eq!(
            says("I enjoy playing the violin."),
            ["likes.activity=violin"]
        );
    }

    #[test]
    fn questions_and_third_parties_are_not_facts() {
        assert!(says("Do you like cats?").is_empty());
        assert!(says("Bạn em thích bóng rổ.").is_empty());
        assert!(says("My friend Tuan likes basketball.").is_empty());
        assert!(says("If I had a puppy I would call it Rex.").is_empty());
        assert!(says("Con có thích ăn kem không?").is_empty());
        // What a relative likes or how old they are is theirs; only having them is the user's.
        assert_eq!(
            says("My brother likes football."),
            ["family.brother=brother"]
        );
        assert_eq!(says("My mom is 40 years old."), ["family.mother=mom"]);
        assert_eq!(says("Chị gái em 12 tuổi."), ["family.sister=chị gái"]);
        assert!(read(&[assistant("I love pizza and my favourite colour is green!")]).is_empty());
    }

    #[test]
    fn negations_and_dislikes_are_told_apart() {
        assert_eq!(says("I hate carrots."), ["dislikes.food=carrots"]);
        assert_eq!(says("Em không thích ăn cá."), ["dislikes.food=cá"]);
        assert_eq!(
            says("I don't like swimming anymore."),
            ["!likes.activity=swimming", "!favorite.activity=swimming"]
        );
        assert_eq!(
            says("Em không còn thích màu đỏ nữa."),
            ["!likes.color=đỏ", "!favorite.color=đỏ"]
        );
        assert_eq!(says("Our cat ran away."), ["!pet.cat=-"]);
        assert_eq!(says("We don't have a dog anymore."), ["!pet.dog=-"]);
    }

    #[test]
    fn family_school_and_goals() {
        assert_eq!(
            says("I have a little brother called Nam."),
            ["family.brother=Nam"]
        );
        assert_eq!(says("Mẹ em tên là Hoa."), ["family.mother=Hoa"]);
        assert_eq!(
            says("I live with my grandma and grandpa."),
            ["family.grandmother=grandma", "family.grandfather=grandpa"]
        );
        assert_eq!(says("I'm in 4th grade."), ["school.grade=4"]);
        assert_eq!(
            says("I want to be a vet when I grow up."),
            ["goal.dream_job=vet"]
        );
        assert_eq!(
            says("Ước mơ của em là trở thành phi công."),
            ["goal.dream_job=phi công"]
        );
    }

    #[test]
    fn short_answers_take_their_meaning_from_the_question() {
        assert_eq!(
            read(&[assistant("What's your favourite food?"), user("Spaghetti!")]),
            ["favorite.food=spaghetti"]
        );
        assert_eq!(
            read(&[assistant("How old are you?"), user("Nine.")]),
            ["age=9"]
        );
        assert_eq!(
            read(&[assistant("Con thích màu gì nhất?"), user("Màu tím ạ")]),
            ["favorite.color=tím"]
        );
        assert_eq!(
            read(&[assistant("Do you like basketball?"), user("Yes!")]),
            ["likes.activity=basketball"]
        );
        assert!(read(&[assistant("What's your favorite animal?"), user("Cool.")]).is_empty());
    }

    #[test]
    fn health_facts() {
        assert_eq!(
            says("I'm allergic to peanuts and eggs."),
            ["health.allergy=peanuts", "health.allergy=eggs"]
        );
        assert_eq!(says("I'm vegetarian."), ["health.diet=vegetarian"]);
        assert_eq!(
            says("Con bị dị ứng với hải sản."),
            ["health.allergy=hải sản"]
        );
    }

    #[test]
    fn candidates_carry_text_language_and_message_index() {
        let candidates = extractor().extract_messages(&[
            assistant("Chào con!"),
            user("Màu yêu thích của em là màu xanh dương."),
        ]);
        assert_eq!(candidates.len(), 1);
        let c = &candidates[0];
        assert_eq!(c.key.as_str(), "favorite.color");
        assert_eq!(c.value.as_ref().map(FactValue::as_str), Some("xanh dương"));
        assert_eq!(c.text.as_str(), "Màu yêu thích là xanh dương");
        assert_eq!(c.language.as_str(), "vi");
        assert_eq!(c.message_indexes, [1]);
        let english = extractor().extract_messages(&[user("My favorite color is blue.")]);
        assert_eq!(english[0].text.as_str(), "Favourite colour is blue");
        assert_eq!(english[0].language.as_str(), "en");
    }

    #[test]
    fn a_bare_correction_takes_the_key_it_corrects() {
        assert_eq!(says("I'm 7. Oh wait, 8!"), ["age=7", "age=8"]);
        assert_eq!(
            says("My favourite colour is blue. Oh wait, I mean red!"),
            ["favorite.color=blue", "favorite.color=red"]
        );
        assert_eq!(says("Em 8 tuổi. À nhầm, 9 tuổi ạ."), ["age=8", "age=9"]);
        assert_eq!(says("I like pizza. Red!"), ["likes.food=pizza"]);
    }

    #[test]
    fn answers_to_have_questions_name_pets_and_relatives() {
        assert_eq!(
            read(&[
                assistant("Do you have any pets?"),
                user("Yes, a cat named Luna.")
            ]),
            ["pet.cat=Luna"]
        );
        assert_eq!(
            read(&[assistant("Do you have a dog?"), user("Yes!")]),
            ["pet.dog=dog"]
        );
        assert!(read(&[assistant("Do you have a dog?"), user("No.")]).is_empty());
    }

    #[test]
    fn habits_and_relatives_jobs() {
        assert_eq!(
            says("I play the piano every day."),
            ["likes.activity=piano"]
        );
        assert_eq!(says("Em học võ."), ["likes.activity=võ"]);
        assert!(says("I play with my friends.").is_empty());
        assert_eq!(
            says("Mẹ em là giáo viên."),
            ["family.mother=mẹ (giáo viên)"]
        );
        let text = extractor().extract_messages(&[user("My dad is a pilot.")]);
        assert_eq!(text[0].text.as_str(), "Father is a pilot");
    }

    #[test]
    fn lists_keep_lexicon_phrases_whole_and_names_keep_their_capitals() {
        assert_eq!(
            says("I love mac and cheese and hot dogs."),
            ["likes.food=mac and cheese", "likes.food=hot dogs"]
        );
        assert_eq!(says("Con tên là An."), ["name=An"]);
        assert_eq!(
            says("My favorite game is Minecraft."),
            ["favorite.game=Minecraft"]
        );
        assert_eq!(says("Em sống ở Nha Trang."), ["location=Nha Trang"]);
    }

    #[test]
    fn more_negations() {
        assert_eq!(
            says("I'm not into ballet anymore."),
            ["!likes.activity=ballet", "!favorite.activity=ballet"]
        );
        assert_eq!(says("I used to have a hamster."), ["!pet.hamster=-"]);
        assert_eq!(says("Bean passed away."), ["!pet=Bean"]);
        assert_eq!(
            says("Em không muốn làm bác sĩ nữa."),
            ["!goal.dream_job=bác sĩ"]
        );
        assert!(says("I quit last month.").is_empty());
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

    #[test]
    fn unusual_text_never_panics() {
        for text in [
            "İ İstanbul İ'm İ like İce cream",
            "I like \u{212A}iwi and \u{1E9E}",
            "!!!",
            "a, , and ,",
            "My favourite is",
            "Em thích",
            "I have a",
            "\u{1F600} \u{1F600}",
        ] {
            let _ = says(text);
        }
    }
}
