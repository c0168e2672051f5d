//! The assistant's last question, read so that a short reply ("Math!", "Eight", "Yes!") can be
//! understood as the answer to it.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{CONTEXTUAL, Finding, WEAK};
use super::language::Lang;
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{fold_case, normalise_message, slug, strip_leading, trim_value};
use super::words::{NON_ANSWERS, YES_ANSWERS};

/// What the assistant's last question asked, so a short answer can be understood.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expectation {
    Favorite(String),
    /// The name of the user's pet of this kind ("What's your puppy's name?"): `pet.<animal>`.
    PetName(String),
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

/// Questions the assistant asks and the shapes of short replies to them.
#[derive(Debug)]
pub(super) struct QuestionPatterns {
    pub(super) ask_favorite: Vec<Regex>,
    pub(super) ask_favorite_by_verb: Vec<Regex>,
    pub(super) ask_pet_name: Vec<Regex>,
    pub(super) ask_age: Regex,
    pub(super) ask_name: Regex,
    pub(super) ask_location: Regex,
    pub(super) ask_grade: Regex,
    pub(super) ask_dream: Regex,
    pub(super) ask_like: Vec<Regex>,
    pub(super) ask_have: Vec<Regex>,
    pub(super) answer_prefix: Regex,
    pub(super) answer_age: Regex,
    pub(super) answer_grade: Regex,
}

impl QuestionPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            ask_favorite: templates.all(&[
                r"\bfavou?rite\s+(\p{L}+(?:\s+\p{L}+)?)",
                r"\b(?:what|which) (?:kind of |type of )?(\p{L}+) do you (?:like|love|enjoy) (?:the )?(?:most|best)\b",
                r"(<TOPIC>)\s+(?:(?:nào|gì)\s+)?(?:mà\s+)?(?:<ADDR>\s+)?(?:yêu thích|ưa thích|thích nhất|yêu nhất|mê nhất|thích)\s+(?:nhất\s+)?(?:của\s+<ADDR>\s+)?(?:là\s+)?(?:gì|nào)",
                r"thích\s+(?:ăn\s+|uống\s+|chơi\s+|xem\s+|đọc\s+|học\s+|nghe\s+)?(<TOPIC>)\s+(?:gì|nào)\s+nhất",
            ])?,
            ask_favorite_by_verb: templates.all(&[
                r"\bwhat do you (?:like|love|enjoy) (?:to )?(eat|drink|play|do|watch|listen to) (?:the )?(?:most|best)\b",
                r"\bthích\s+(ăn|uống|chơi|xem|nghe)\s+(?:gì|cái gì)\s+nhất",
            ])?,
            ask_pet_name: templates.all(&[
                r"\bwhat(?:'s| is| are)(?: your| the)? (?:<PETADJ>\s+)*(<ANIMAL>)(?:'s|s') names?\b",
                r"\bwhat(?:'s| is) (?:your |the )?(?:<PETADJ>\s+)*(<ANIMAL>) (?:called|named)\b",
                r"\bwhat did you (?:name|call) (?:your |the )(?:<PETADJ>\s+)*(<ANIMAL>)\b",
                r"(?:con|chú|bé|em)\s+(<ANIMAL>)(?:\s+(?:của\s+)?(?:nhà\s+)?<ADDR>)?\s+(?:tên là|tên|có tên là|được gọi là)\s+gì\b",
            ])?,
            ask_age: templates.one(
                r"\bhow old\b|\bmấy tuổi\b|\bbao nhiêu tuổi\b|\bwhat(?:'s| is) your age\b",
            )?,
            ask_name: templates.one(
                r"\bwhat(?:'s| is) your name\b|\btên (?:của )?<ADDR> là gì\b|\b<ADDR> tên (?:là )?gì\b",
            )?,
            ask_location: templates.one(
                r"\bwhere do you live\b|\bwhere are you from\b|\b(?:sống|ở) ở đâu\b|\bnhà <ADDR> ở đâu\b|\b<ADDR> ở đâu\b",
            )?,
            ask_grade: templates.one(
                r"\bwhat grade\b|\bwhich grade\b|\bwhat year are you in\b|\blớp mấy\b",
            )?,
            ask_dream: templates.one(
                r"\bwhat do you want to be\b|\bwhat (?:do|would) you (?:like|want) to be\b|\bwhen you grow up\b|\bmuốn làm (?:nghề )?gì\b|\bước mơ (?:của <ADDR> )?là gì\b|\bmuốn trở thành (?:ai|gì)\b",
            )?,
            ask_like: templates.all(&[
                r"^(?:and |so )?(?:do|did) you (?:also |really |still )?(?:like|love|enjoy) (.+?)(?: too| as well)?$",
                r"^<ADDR> có (?:thích|yêu|mê) (.+?) không$",
            ])?,
            ask_have: templates.all(&[
                r"^(?:and |so )?(?:do|did) you (?:also |still )?(?:have|own|keep) (.+?)(?: too| as well| at home)?$",
                r"^(?:nhà )?<ADDR> có (?:nuôi )?(.+?) không$",
            ])?,
            answer_prefix: templates.one(
                r"^(?:it's|it is|that's|that is|i think|i guess|maybe|probably|definitely|i'd say|my favou?rite is|my favou?rite's|chắc là|có lẽ là|là|thì là|thì)\s+",
            )?,
            answer_age: templates.one(
                r"^(<NUM>)(?:\s+(?:years?(?: old)?|tuổi))?(?:\s+(?:rồi|ạ|now))?$",
            )?,
            answer_grade: templates.one(
                r"^(?:grade |year |class |lớp )?(\d{1,2}|<NUM>)(?:[a-z]|st|nd|rd|th)?(?: grade)?$",
            )?,
        })
    }
}

impl RulesExtractor {
    /// What the assistant's last question asks, if a short answer to it would be a fact.
    pub(super) fn expectation(&self, content: &str) -> Option<Expectation> {
        let text = normalise_message(content);
        let question = self
            .patterns
            .sentences
            .sentence
            .find_iter(&text)
            .map(|s| s.as_str().trim())
            .filter(|s| s.ends_with('?'))
            .last()?;
        let body = trim_value(question);
        let patterns = &self.patterns.questions;
        if let Some(topic) = patterns
            .ask_favorite
            .iter()
            .find_map(|re| re.captures(body))
            .and_then(|caps| group(&caps, 1))
            .and_then(|phrase| self.lexicon.topic_named(phrase).or_else(|| slug(phrase)))
        {
            return Some(Expectation::Favorite(topic));
        }
        if let Some(topic) = patterns
            .ask_favorite_by_verb
            .iter()
            .find_map(|re| re.captures(body))
            .and_then(|caps| group(&caps, 1))
            .and_then(|verb| self.lexicon.verb_topic.get(&fold_case(verb)))
        {
            return Some(Expectation::Favorite(topic.clone()));
        }
        if let Some(slug) = patterns
            .ask_pet_name
            .iter()
            .find_map(|re| re.captures(body))
            .and_then(|caps| group(&caps, 1))
            .and_then(|animal| self.lexicon.animal_of_word.get(&fold_case(animal)))
        {
            return Some(Expectation::PetName(format!("pet.{slug}")));
        }
        if patterns.ask_age.is_match(body) {
            return Some(Expectation::Age);
        }
        if patterns.ask_name.is_match(body) {
            return Some(Expectation::Name);
        }
        if patterns.ask_location.is_match(body) {
            return Some(Expectation::Location);
        }
        if patterns.ask_grade.is_match(body) {
            return Some(Expectation::Grade);
        }
        if patterns.ask_dream.is_match(body) {
            return Some(Expectation::DreamJob);
        }
        let asked = self.strip_clause(body);
        let liked = patterns
            .ask_like
            .iter()
            .find_map(|re| re.captures(asked))
            .and_then(|caps| group(&caps, 1));
        if liked.is_none()
            && let Some(phrase) = patterns
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
    pub(super) fn answer(
        &self,
        expected: &Expectation,
        clause: &Clause<'_>,
        lang: Lang,
    ) -> Vec<Finding> {
        let patterns = &self.patterns.questions;
        let text = match patterns.answer_prefix.find(clause.text) {
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
            Expectation::Age => patterns
                .answer_age
                .captures(text)
                .and_then(|caps| group(&caps, 1).and_then(|n| self.lexicon.number(n)))
                .filter(|a| (1..=120).contains(a))
                .map(|age| Finding::assert("age", age.to_string(), CONTEXTUAL)),
            Expectation::PetName(key) => self
                .names(strip_leading(
                    text,
                    &["tên là", "tên", "là", "it's", "its", "he's", "she's"],
                ))
                .0
                .into_iter()
                .next()
                // A pet may well be called "Sushi" or "Cookie": asked for its name, any word is.
                .map(|name| Finding::assert(key.clone(), name, CONTEXTUAL).with_name()),
            Expectation::Name => self
                .first_name(text)
                .filter(|name| !self.lexicon.is_known_word(name))
                .map(|name| Finding::assert("name", name, CONTEXTUAL)),
            Expectation::Location => self
                .place(text)
                .map(|place| Finding::assert("location", place, CONTEXTUAL)),
            Expectation::Grade => patterns
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

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
}
