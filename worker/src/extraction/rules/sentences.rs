//! Reading one user message: sentences cut into clauses at a new subject, greetings and
//! particles stripped, questions, hypotheticals and modals skipped, and each remaining clause
//! handed to the topic readers.

use regex::Regex;

use pika_domain::{Cardinality, FactKey};

use super::super::Polarity;
use super::RulesExtractor;
use super::findings::{CONTEXTUAL, Finding, WEAK};
use super::language::Lang;
use super::patterns::Templates;
use super::questions::Expectation;
use super::text::{bare, fold_case, starts_with_word, trim_value};
use super::words::YES_ANSWERS;

/// One clause of a user's sentence, with what the sentence around it says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clause<'t> {
    pub(super) text: &'t str,
    /// The clause opens its sentence, so a capital letter there is grammar, not a name.
    pub(super) opens_sentence: bool,
    /// The sentence speaks of growing up ("When I grow up …", "Sau này …").
    pub(super) future: bool,
}

/// How text divides: sentences, clauses, lists, and what marks a clause as no statement.
#[derive(Debug)]
pub(super) struct SentencePatterns {
    pub(super) sentence: Regex,
    pub(super) clause_break: Regex,
    pub(super) discourse: Regex,
    pub(super) vi_yes_no_prefix: Regex,
    pub(super) trailing_noise: Regex,
    pub(super) future: Regex,
    pub(super) hypothetical: Regex,
    pub(super) correction: Regex,
    pub(super) modal: Regex,
    pub(super) modal_goal: Regex,
    pub(super) interrogative: Regex,
    pub(super) vi_question: Regex,
    pub(super) list_separator: Regex,
    pub(super) list_continues: Regex,
    pub(super) pronoun_named: Regex,
    pub(super) was_then_is_now: Vec<Regex>,
    pub(super) it_is_now: Regex,
}

/// What earlier messages of the conversation said that a later clause may point back to.
#[derive(Debug, Default)]
pub(super) struct SaidBefore {
    /// The last single-valued key stated, so a bare correction ("Oh wait, 8!") knows what it
    /// corrects.
    pub(super) single: Option<String>,
    /// The last pet mentioned (`pet.cat`), so "her name is Pepper" names it.
    pub(super) pet: Option<String>,
}

impl SentencePatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            // A child's emoji ends a sentence as a full stop would ("… gà rán 🍗🍗 em thích …").
            sentence: templates.one(r"[^.!?\n…\p{Extended_Pictographic}]+[.!?…\p{Extended_Pictographic}\x{FE0F}\x{200D}\s]*")?,
            clause_break: templates.one(
                r"\s*[,;:]\s*|\s+[-–—]\s+|\s+(?:and|but|so|because|cause|'cause|though|although|while|then|và|nhưng|vì|nên|còn|rồi|thì)\s+|\s+(?P<restart>\b(?:i'm|im|i am|i've|i have|i like|i love)\b)",
            )?,
            // "còn" (and, as for) would take the pronoun "con" with it once marks are gone.
            discourse: templates.one(&format!(
                r"^(?:(?:oh wait|no wait|wait|oh|ah|aw|well|actually|and|also|but|so|um+|uh+|hm+|yes|yeah|yep|yup|no|nope|nah|ok|okay|hi|hello|hey|sometimes|now|today|right now|these days|by the way|btw|guess what|you know what|you know|haha|hehe|lol|wow|sure|of course|i mean|i think|i guess|i believe|sorry|then|plus|anyway|dạ|vâng|ừ|ừm|ờ|à|ồ|ôi|ơ|thế|thì|và|nhưng|{con}bởi vì|tại vì|vì|because|với lại|vả lại|{ma}jk|just kidding|đùa thôi|cuối tuần|mỗi ngày|hằng ngày|hàng ngày|mỗi tối|mỗi sáng|tan học|on weekends|at weekends|on the weekend|every day|after school|bác sĩ bảo|bác sĩ nói|the doctor said|the doctor says|my doctor said|bây giờ|giờ đây|giờ thì|giờ|hiện tại|hiện giờ|dạo này|thật ra|thực ra|à nhầm|nhầm|ừa|hì hì|hì|hihi|hehe|cô ơi|chị ơi|anh ơi|bạn ơi|pika ơi|năm nay|thưa cô|hôm nay|when i grow up|when i'm (?:older|bigger|big|a grown-?up)|when i am (?:older|bigger|big|a grown-?up)|in the future|some ?day|one day|later on|sau này|lớn lên|khi lớn lên|khi <SELF> lớn lên|mai sau|trong tương lai|tương lai)(?:\b|$)[\s,!.:;-]*)+",
                con = if templates.unaccented() { "" } else { "còn|" },
                // … and "mà" (but) the mother "má".
                ma = if templates.unaccented() { "" } else { "mà|" },
            ))?,
            vi_yes_no_prefix: templates.one(r"^(?:không|có)\s*[,!.]+\s*")?,
            trailing_noise: templates.one(
                r"(?:[\s,]+(?:ạ|nhé|nha|nhá|á|nè|hihi|hehe|haha|lol|too|as well|xd|:\)|:d|:p|<3))+\s*$",
            )?,
            future: templates.one(
                r"\b(?:when i grow up|when i'm (?:older|bigger|big|a grown-?up)|when i am (?:older|bigger|big)|in the future|some ?day|one day|sau này|lớn lên|mai sau|tương lai)\b",
            )?,
            hypothetical: templates.one(
                r"\b(?:what if|if|imagine|pretend|suppose|supposing|i wish|nếu|giả sử|giá mà|ước gì|tưởng tượng)\b",
            )?,
            correction: templates.one(
                r"^(?:(?:oh|ah|um|uh|no|oops|sorry|well)[\s,!.]+)*(?:wait|i mean|actually|sorry|oops|no|nope|jk|just kidding|kidding|à nhầm|nhầm|à không|không phải|ý em là|ý con là|đùa thôi|đùa đấy)\b",
            )?,
            modal: templates.one(
                r"\b(?:would|could|might|should|wouldn't|couldn't)\b|\b(?:i|we)'d\b",
            )?,
            modal_goal: templates.one(
                r"(?:would|'d) (?:really )?(?:like|love) to (?:be|become)\b",
            )?,
            interrogative: templates.one(
                r"^(?:do|does|did|are|is|am|can|could|would|will|have|has|what|what's|who|who's|where|when|why|how|which|whose|shall|should|may)\b",
            )?,
            vi_question: templates.one(
                r"(?:\b(?:chưa|hả|hở|nhỉ|gì|sao|nào|mấy)\s*$)|(?:\bcó\b.+\b(?:không|ko)\s*$)",
            )?,
            list_continues: templates.one(
                r"^\s*(?:,\s*)?(?:and\s+|và\s+)?(?:(?:a|an|one|two|three|four|five|\d+|một|hai|ba|bốn|năm)\s+(?:(?:<FAMADJ>|<PETADJ>|con|chú|bé)\s+)*(?:<REL>|<ANIMAL>)\b|(?:<REL>)(?:\s+<CAP>\p{L}*)?\s*(?:,|\bvà\b|\band\b|$))",
            )?,
            pronoun_named: templates.one(
                r"^(?:(?:his|her|its|their|mine's|my one's) names? (?:is|are|'s)|(?:mine|my one)(?:'s| is) (?:called|named)|(?:he|she|it)(?:'s| is) (?:called|named)|(?:nó) (?:tên là|tên|có tên là|được đặt tên là)|tên (?:của )?(?:nó|bé|em ấy) là)\s+(.+)$",
            )?,
            // "My favourite colour used to be pink but now it's purple": only the present
            // holds, so the sentence is read as "My favourite colour is purple".
            was_then_is_now: templates.all(&[
                r"^(.+?) used to be .+? but (?:now |these days |today )?(?:it's|it is|its|is|are|they're|they are) (?:now )?(.+?)(?: now| these days)?$",
                r"^(.+?) (?:trước đây|hồi trước|ngày xưa|lúc trước|hồi xưa|hồi nhỏ) (?:là|thì là) .+? nhưng (?:giờ|bây giờ|hiện tại|dạo này)(?: thì)?(?: đã)? (?:là |lại là |đổi thành )?(.+?)(?: rồi)?$",
                r"^(?:trước đây|hồi trước|ngày xưa|lúc trước|hồi xưa|hồi nhỏ),? (.+?) (?:là|thì là) .+? nhưng (?:giờ|bây giờ|hiện tại|dạo này)(?: thì)?(?: đã)? (?:là |lại là |đổi thành )?(.+?)(?: rồi)?$",
            ])?,
            // "I changed my mind, it's fried chicken now": a new value for what was just said.
            it_is_now: templates.one(
                r"^(?:(?:but|and) )?(?:now (?:it's|it is|its)|(?:it's|it is|its) now) (.+?)$|^(?:it's|it is|its) (.+?) now$|^(?:giờ|bây giờ|giờ thì) (?:là|thì là|đổi thành) (.+?)(?: rồi)?$",
            )?,
            list_separator: templates.one(
                r"\s*,\s*(?:and\s+|or\s+|và\s+)?|\s+(?:and|or|và|hoặc|với cả|&)\s+|\s*&\s*|\s*/\s*",
            )?,
        })
    }
}

impl RulesExtractor {
    /// Reads one user message; `said` carries what earlier clauses of the conversation named.
    pub(super) fn read_user_message(
        &self,
        text: &str,
        lang: Lang,
        expectation: Option<(Expectation, u32)>,
        said: &mut SaidBefore,
    ) -> Vec<(Finding, Option<u32>)> {
        let mut out: Vec<(Finding, Option<u32>)> = Vec::new();
        let mut expectation = expectation;
        for sentence in self.patterns.sentences.sentence.find_iter(text) {
            let raw = sentence.as_str().trim();
            let question = raw.contains('?');
            let body = raw.trim_end_matches(['.', '!', '?', '…', ' ']);
            if body.is_empty() {
                continue;
            }
            let now = self.was_then_is_now(body);
            let body = now.as_deref().unwrap_or(body);
            let future = self.patterns.sentences.future.is_match(body);
            self.allergy_with_reason(body, &mut out);
            let clauses = self.split_clauses(body);
            let last = clauses.len().saturating_sub(1);
            let hypothetical = self.patterns.sentences.hypothetical.is_match(body);
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
                if self.patterns.sentences.modal.is_match(clause.text)
                    && !self.patterns.sentences.modal_goal.is_match(clause.text)
                {
                    continue;
                }
                let mut found = Vec::new();
                if let Some(pet) = &said.pet
                    && let Some(caps) = self.patterns.sentences.pronoun_named.captures(clause.text)
                    && let Some(rest) = caps.get(1)
                {
                    let named = Clause {
                        text: rest.as_str(),
                        ..clause
                    };
                    found = self.answer(&Expectation::PetName(pet.clone()), &named, lang);
                } else {
                    self.read_clause(&clause, &mut found);
                }
                if found.is_empty()
                    && asked.is_none()
                    && let Some(value) = self
                        .patterns
                        .sentences
                        .it_is_now
                        .captures(trim_value(raw_clause))
                        .and_then(|caps| caps.iter().skip(1).flatten().next())
                {
                    found = self.changed_value(value.as_str(), said.single.as_deref(), lang);
                }
                if found.is_empty()
                    && asked.is_none()
                    && self.patterns.sentences.correction.is_match(raw_clause)
                    && let Some(corrected) = said.single.as_deref().and_then(expectation_for_key)
                {
                    found = self.answer(&corrected, &clause, lang);
                }
                for finding in &found {
                    let Ok(key) = FactKey::parse(&finding.key) else {
                        continue;
                    };
                    if key.family() == "pet" && key.as_str() != "pet" {
                        said.pet = Some(finding.key.clone());
                    } else if key.family() == "family" {
                        // "… and a sister, her name is Mai": the pronoun is hers now.
                        said.pet = None;
                    }
                    if finding.polarity == Polarity::Assert
                        && key.cardinality() == Cardinality::Single
                    {
                        said.single = Some(finding.key.clone());
                    }
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

    /// "It's X now": the new value of the single-valued key said last, or else of the
    /// favourite of X's kind ("it's fried chicken now" is a favourite food).
    fn changed_value(&self, value: &str, last_single: Option<&str>, lang: Lang) -> Vec<Finding> {
        let clause = Clause {
            text: value,
            opens_sentence: false,
            future: false,
        };
        let favorite_topic = last_single.and_then(|key| key.strip_prefix("favorite."));
        if favorite_topic.is_none()
            && let Some(expected) = last_single.and_then(expectation_for_key)
        {
            return self.answer(&expected, &clause, lang);
        }
        // A favourite changes only to a thing the lexicon knows, of the same kind when one was
        // just said: "It's raining now" after a favourite colour is small talk.
        let Some(item) = self.preference_items(value, false).into_iter().next() else {
            return Vec::new();
        };
        if item.guessed || favorite_topic.is_some_and(|topic| topic != item.topic) {
            return Vec::new();
        }
        vec![Finding::assert(
            format!("favorite.{}", item.topic),
            item.value,
            WEAK,
        )]
    }

    /// The sentence as it stands now, when it tells a value that changed.
    fn was_then_is_now(&self, body: &str) -> Option<String> {
        let (index, caps) = self
            .patterns
            .sentences
            .was_then_is_now
            .iter()
            .enumerate()
            .find_map(|(i, re)| re.captures(body).map(|caps| (i, caps)))?;
        let (subject, value) = (caps.get(1)?.as_str(), caps.get(2)?.as_str());
        let copula = match (index, self.marks_stripped) {
            (0, _) => "is",
            (_, true) => "la",
            (_, false) => "là",
        };
        Some(format!("{subject} {copula} {value}"))
    }

    /// Splits a sentence where a new subject starts: "…, I quit", "… and she is 12", but not
    /// inside a list ("pizza, ice cream and cake") nor inside a subject ("Me and my brother
    /// like …"). A run-on "hi im lily im 7" restarts at each "I'm", which stays in the clause.
    fn split_clauses<'t>(&self, sentence: &'t str) -> Vec<&'t str> {
        let mut clauses = Vec::new();
        let mut start = 0;
        for caps in self.patterns.sentences.clause_break.captures_iter(sentence) {
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
            // "I have two brothers, and a baby sister": the list of what one has goes on.
            let list_goes_on = caps.name("restart").is_none()
                && self
                    .patterns
                    .sentences
                    .list_continues
                    .is_match(&sentence[found.start()..]);
            if found.start() > start
                && splits
                && !list_goes_on
                && self.opens_clause(&sentence[next_start..])
            {
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
            // The same typed without marks.
            "da", "va", "nhung", "bay", "gio", "that", "thuc", "hien", "lon", "nha", "no",
            "ho", "moi",
        ];
        const SELF: &[&str] = &[
            "i", "i'm", "im", "em", "mình", "tớ", "tôi", "cháu", "tui", "minh", "toi", "chau",
        ];
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
    pub(super) fn strip_clause<'t>(&self, clause: &'t str) -> &'t str {
        let mut text = trim_value(clause);
        loop {
            let before = text.len();
            if let Some(found) = self.patterns.sentences.discourse.find(text) {
                text = trim_value(&text[found.end()..]);
            }
            if let Some(found) = self.patterns.sentences.vi_yes_no_prefix.find(text) {
                text = trim_value(&text[found.end()..]);
            }
            if let Some(found) = self.patterns.sentences.trailing_noise.find(text) {
                text = trim_value(&text[..found.start()]);
            }
            if text.len() == before {
                return text;
            }
        }
    }

    fn is_question(&self, clause: &str, ends_with_question_mark: bool) -> bool {
        ends_with_question_mark
            || self.patterns.sentences.interrogative.is_match(clause)
            || self.patterns.sentences.vi_question.is_match(clause)
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

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
    fn a_value_that_changed_is_read_as_it_is_now() {
        assert_eq!(
            says("My favorite color used to be pink but now it's purple."),
            ["favorite.color=purple"]
        );
        assert_eq!(
            says("Màu em thích nhất trước đây là màu hồng nhưng bây giờ là màu tím."),
            ["favorite.color=tím"]
        );
        assert_eq!(
            says("Hồi trước em thích màu hồng nhưng giờ em thích màu tím hơn."),
            [
                "!likes.color=hồng",
                "!favorite.color=hồng",
                "favorite.color=tím"
            ]
        );
    }

    #[test]
    fn it_is_now_gives_a_new_value() {
        assert_eq!(
            says("My favourite food is spaghetti. I changed my mind, it's fried chicken now."),
            ["favorite.food=spaghetti", "favorite.food=fried chicken"]
        );
        assert_eq!(
            says("I changed my mind, it's fried chicken now."),
            ["favorite.food=fried chicken"]
        );
        assert!(says("It's raining now.").is_empty());
        assert_eq!(
            says("My favourite colour is blue. It's raining now."),
            ["favorite.color=blue"]
        );
        assert_eq!(
            says("My favourite colour is blue. But now it's green."),
            ["favorite.color=blue", "favorite.color=green"]
        );
        assert_eq!(
            says("I have a dog. I also have a sister, her name is Mai."),
            ["pet.dog=dog", "family.sister=sister"]
        );
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
        assert_eq!(
            says("My name is Batman 😎 jk it's Quan"),
            ["name=Batman", "name=Quan"]
        );
    }
}
