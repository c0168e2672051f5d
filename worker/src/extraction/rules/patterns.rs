//! Pattern building: templates with placeholders for lexicon alternations and shared fragments,
//! compiled once per extractor. Each topic's patterns live beside the reader that uses their
//! capture groups, so a pattern and the code that reads it change together.

use regex::{Captures, Regex};

use super::goals::GoalPatterns;
use super::health::HealthPatterns;
use super::identity::IdentityPatterns;
use super::lexicon::Vocabulary;
use super::negations::NegationPatterns;
use super::possessions::PossessionPatterns;
use super::preferences::PreferencePatterns;
use super::questions::QuestionPatterns;
use super::school::SchoolPatterns;
use super::sentences::SentencePatterns;
use super::text::strip_marks;

/// Vietnamese first-person pronouns a child uses about themselves.
const VI_SELF: &str = r"(?:em|con|mình|tớ|tôi|cháu|tui|bé|e)";

/// How the assistant addresses the child in Vietnamese.
const VI_ADDRESSEE: &str = r"(?:con|em|cháu|bạn|cậu|bé)";

/// An uppercase letter even inside a case-insensitive pattern: names are told by their capital.
const CAPITAL: &str = r"(?-i:\p{Lu})";

/// Words before a pet ("my little black cat", "a fluffy dog"), so the animal is still found.
const EN_PET_ADJECTIVES: &str = r"(?:little|big|small|baby|pet|cute|fluffy|black|white|brown|grey|gray|orange|golden|tiny|new|old|young|fat|lazy|naughty|funny|adorable|sweet|spotted|striped|ginger|furry|dear|poor|beloved)";

/// Words after a pet in Vietnamese ("con mèo mướp"), so the pet's name is still found.
const VI_PET_ADJECTIVES: &str = r"(?:nhỏ|to|bự|trắng|đen|vàng|xám|nâu|mướp|tam thể|béo|xinh|dễ thương|cưng|lông xù|ta|tây|nhật|con|lai|cảnh|tai cụp|lông dài|poodle|corgi|husky|becgie|phốc)";

/// Words before a relative ("my little brother", "an older sister"), so the relation is still
/// found.
const FAMILY_ADJECTIVES: &str =
    r"(?:little|big|older|younger|elder|baby|twin|step|new|only|oldest|youngest)";

/// A count or possessive before pets or relatives ("two cats", "ba con mèo", "my dog"); a
/// count above one stays in the value.
const COUNTS: &str = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+|some|many|lots of|a lot of|several|a couple of|một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mấy|nhiều|vài|my|our)";

/// Every pattern, compiled once. All are case-insensitive and most are anchored at the start
/// of a clause, where its subject is.
#[derive(Debug)]
pub(super) struct Patterns {
    pub(super) sentences: SentencePatterns,
    pub(super) questions: QuestionPatterns,
    pub(super) identity: IdentityPatterns,
    pub(super) school: SchoolPatterns,
    pub(super) preferences: PreferencePatterns,
    pub(super) goals: GoalPatterns,
    pub(super) possessions: PossessionPatterns,
    pub(super) health: HealthPatterns,
    pub(super) negations: NegationPatterns,
}

impl Patterns {
    /// `unaccented` builds the patterns for Vietnamese typed without marks: every word of
    /// every template loses its marks, so "em thích" is matched as "em thich".
    pub(super) fn build(vocabulary: &Vocabulary, unaccented: bool) -> Result<Self, regex::Error> {
        let templates = Templates {
            vocabulary,
            unaccented,
        };
        Ok(Self {
            sentences: SentencePatterns::build(&templates)?,
            questions: QuestionPatterns::build(&templates)?,
            identity: IdentityPatterns::build(&templates)?,
            school: SchoolPatterns::build(&templates)?,
            preferences: PreferencePatterns::build(&templates)?,
            goals: GoalPatterns::build(&templates)?,
            possessions: PossessionPatterns::build(&templates)?,
            health: HealthPatterns::build(&templates)?,
            negations: NegationPatterns::build(&templates)?,
        })
    }
}

/// Compiles pattern templates. A template writes `<ANIMAL>`, `<SELF>`, `<NUM>`, … where a
/// lexicon alternation or a shared fragment goes, so a pattern reads like the sentence it
/// matches and the vocabulary stays in the lexicon.
#[derive(Debug)]
pub(super) struct Templates<'v> {
    vocabulary: &'v Vocabulary,
    unaccented: bool,
}

impl Templates<'_> {
    /// One case-insensitive pattern.
    pub(super) fn one(&self, template: &str) -> Result<Regex, regex::Error> {
        let v = self.vocabulary;
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
        let source = if self.unaccented {
            strip_marks(&source)
        } else {
            source
        };
        Regex::new(&format!("(?i){source}"))
    }

    /// Whether these are the patterns for text typed without marks, where a few words become
    /// one ("còn", "con") and a pattern must leave one of them out.
    pub(super) fn unaccented(&self) -> bool {
        self.unaccented
    }

    /// Alternative phrasings of one statement, tried in order.
    pub(super) fn all(&self, templates: &[&str]) -> Result<Vec<Regex>, regex::Error> {
        templates.iter().map(|t| self.one(t)).collect()
    }
}

/// A capture group's text; optional groups are common, so a missing one is `None`.
pub(super) fn group<'h>(caps: &Captures<'h>, index: usize) -> Option<&'h str> {
    caps.get(index).map(|m| m.as_str())
}
