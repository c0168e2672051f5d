//! The default extractor: offline, deterministic rules for English and Vietnamese.
//!
//! A user message is cut into sentences and clauses, and each clause is read by patterns
//! anchored at its subject, so only what users say about themselves becomes a fact: "My friend
//! Tuan likes basketball" starts with someone else and is left alone. Questions, hypotheticals
//! ("What if I had a dog?") and the assistant's words are never read as facts, but the
//! assistant's last question gives a short answer its meaning ("What's your favourite
//! subject?" — "Math!").
//!
//! The grammar lives in this module, one file per topic with its patterns beside the code that
//! reads their capture groups; the words that name things (foods, colours, animals, relations,
//! jobs) live in `worker/lexicon/lexicon.toml`, so the vocabulary grows without code changes.

mod candidates;
mod findings;
mod goals;
mod health;
mod identity;
mod language;
mod lexicon;
mod negations;
mod patterns;
mod possessions;
mod preferences;
mod questions;
mod school;
mod sentences;
#[cfg(test)]
mod test_support;
mod text;
mod values;
mod words;

use std::sync::Arc;

use async_trait::async_trait;

use pika_domain::{ChatMessage, Conversation, Role};

use super::{Candidate, ExtractionError, Extractor, Polarity};
use findings::Shape;
use language::{Lang, detect_language, is_unaccented_vietnamese};
pub use lexicon::LexiconError;
use lexicon::{BUNDLED_LEXICON, Lexicon, RawLexicon, Vocabulary};
use patterns::Patterns;
use questions::Expectation;
use sentences::SaidBefore;
use text::normalise_message;

/// The extractor that needs no model endpoint: it costs nothing per conversation, works
/// offline, and reads the same conversation the same way every time.
#[derive(Debug)]
pub struct RulesExtractor {
    lexicon: Lexicon,
    patterns: Patterns,
    /// The same grammar and words without Vietnamese marks, for messages typed without them;
    /// `None` in that reader itself.
    unaccented: Option<Box<RulesExtractor>>,
    /// This is that reader: the words it writes back into a sentence have no marks either.
    marks_stripped: bool,
}

impl RulesExtractor {
    /// Uses the lexicon compiled into the binary, so a worker needs no lexicon file to start.
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
        let unaccented = raw.clone().without_marks();
        Ok(Self {
            unaccented: Some(Box::new(Self::reader(unaccented, true)?)),
            ..Self::reader(raw, false)?
        })
    }

    fn reader(raw: RawLexicon, unaccented: bool) -> Result<Self, LexiconError> {
        let vocabulary = Vocabulary::from_raw(&raw);
        let lexicon = Lexicon::compile(raw)?;
        let patterns = Patterns::build(&vocabulary, unaccented)?;
        Ok(Self {
            lexicon,
            patterns,
            unaccented: None,
            marks_stripped: unaccented,
        })
    }

    /// Reads plain messages without the async trait or a `Conversation`, so tests can call it
    /// directly; `extract` is this behind the trait.
    pub fn extract_messages(&self, messages: &[ChatMessage]) -> Vec<Candidate> {
        let mut candidates: Vec<(Candidate, bool)> = Vec::new();
        let mut named_pets = Vec::new();
        let mut expectation: Option<(Expectation, u32)> = None;
        let mut said = SaidBefore::default();
        for (index, message) in messages.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            match message.role {
                Role::Assistant => {
                    expectation = self.expectation(&message.content).map(|e| (e, index));
                }
                Role::System => expectation = None,
                Role::User => {
                    let text = normalise_message(&message.content);
                    let unaccented = is_unaccented_vietnamese(&text);
                    let (reader, lang) = match &self.unaccented {
                        Some(reader) if unaccented => (reader.as_ref(), Lang::Vi),
                        _ => (self, detect_language(&text)),
                    };
                    let findings =
                        reader.read_user_message(&text, lang, expectation.take(), &mut said);
                    for (mut finding, question) in findings {
                        // A value the rules wrote ("ngày 12 tháng 8") in the user's own script.
                        if unaccented {
                            finding.value = finding.value.map(|v| text::strip_marks(&v));
                        }
                        let mut indexes: Vec<u32> = question.into_iter().collect();
                        indexes.push(index);
                        let named_pet = finding.shape == Shape::Named
                            && finding.key.starts_with("pet.")
                            && finding.polarity == Polarity::Assert;
                        if let Some(candidate) = reader.candidate(finding, lang, indexes) {
                            if named_pet {
                                named_pets.push((candidate.key.clone(), candidates.len()));
                            }
                            candidates.push((candidate, named_pet));
                        }
                    }
                }
            }
        }
        // "I got a new puppy!" … "Coco": once the pet has a name, the bare "puppy" said before
        // it is the same animal, not a second one. A bare one said after the name is another.
        candidates
            .into_iter()
            .enumerate()
            .filter(|(position, (c, named))| {
                let named_later = named_pets
                    .iter()
                    .any(|(key, at)| *key == c.key && at > position);
                *named
                    || !named_later
                    || c.polarity != Polarity::Assert
                    || !c
                        .value
                        .as_ref()
                        .is_some_and(|v| self.is_bare_animal(v.as_str()))
            })
            .map(|(_, (c, _))| c)
            .collect()
    }

    /// "puppy", "cat", "hai con mèo", "cho": an animal without a name, typed with or
    /// without marks.
    fn is_bare_animal(&self, value: &str) -> bool {
        let Some(last) = value.split_whitespace().last() else {
            return false;
        };
        let last = text::fold_case(last);
        std::iter::once(self)
            .chain(self.unaccented.as_deref())
            .any(|reader| reader.lexicon.animal_of_word.contains_key(&last))
    }
}

impl Default for RulesExtractor {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
#[async_trait]
impl Extractor for RulesExtractor {
    async fn extract(
        &self,
        conversation: &Conversation,
    ) -> Result<Vec<Candidate>, ExtractionError> {
        Ok(self.extract_messages(conversation.messages()))
    }
}

/// The rules extractor as the worker runs it: on the blocking pool, so a large conversation's
/// pattern matching never holds an async runtime thread (and the requests queued behind it).
#[derive(Debug, Clone)]
pub struct OffRuntime(Arc<RulesExtractor>);

impl OffRuntime {
    pub fn new(rules: Arc<RulesExtractor>) -> Self {
        Self(rules)
    }
}

#[async_trait]
impl Extractor for OffRuntime {
    async fn extract(
        &self,
        conversation: &Conversation,
    ) -> Result<Vec<Candidate>, ExtractionError> {
        let (rules, conversation) = (self.0.clone(), conversation.clone());
        tokio::task::spawn_blocking(move || rules.extract_messages(conversation.messages()))
            .await
            .map_err(|error| {
                ExtractionError::Transient(format!("rules extraction failed: {error}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;

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
    fn vietnamese_typed_without_marks_is_read_and_kept_as_typed() {
        assert_eq!(says("minh ten la Bao, minh 9 tuoi"), ["name=Bao", "age=9"]);
        assert_eq!(says("nha em co con cho ten la Lu"), ["pet.dog=Lu"]);
        assert_eq!(says("em thich an pho lam"), ["likes.food=pho"]);
        assert_eq!(
            says("sinh nhat em la ngay 12 thang 8"),
            ["birthday=ngay 12 thang 8"]
        );
        // With even one mark the message is read as typed: "cho" is "give", not "chó".
        assert!(says("Em cho bạn mượn bút.").is_empty());
        assert_eq!(says("I have a dog named Max."), ["pet.dog=Max"]);
        // Words that are one once marks are gone: the relative wins over the animal.
        assert!(
            !says("nha em co bo me va em gai")
                .iter()
                .any(|f| f.starts_with("pet."))
        );
        assert!(!says("ma em 35 tuoi").contains(&"age=35".to_owned()));
        assert_eq!(
            says("mau em thich nhat truoc day la mau hong nhung bay gio la mau tim"),
            ["favorite.color=tim"]
        );
    }

    #[test]
    fn a_named_pet_replaces_the_bare_animal_said_before() {
        let found = read(&[
            user("i got a new puppy!!! 🐶🐶🐶"),
            assistant("Yay, congratulations! What's your puppy's name?"),
            user("coco"),
        ]);
        assert_eq!(found, ["pet.dog=Coco"]);
        let found = read(&[user(
            "I used to have a hamster but now I have a cat. her name is Pepper",
        )]);
        assert_eq!(found, ["!pet.hamster=-", "pet.cat=Pepper"]);
        let found = read(&[
            user("Nhà em có nuôi mèo."),
            assistant("Bé mèo tên là gì thế?"),
            user("tên là Mướp ạ"),
        ]);
        assert_eq!(found, ["pet.cat=Mướp"]);
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
