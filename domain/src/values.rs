//! Validated value objects. Every value that crosses into the domain is checked here once, so
//! aggregates and read models never see an id with a slash in it, a key in mixed case or a value
//! whose Vietnamese diacritics are in a decomposed form that would compare unequal.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

/// Why a value was refused; the message is safe to show to an API client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '@' | '-')
}

fn check_identifier(field: &'static str, raw: &str, max: usize) -> Result<(), ValidationError> {
    if raw.is_empty() || raw.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if let Some(bad) = raw.chars().find(|c| !is_id_char(*c)) {
        return Err(ValidationError::new(
            field,
            format!("character {bad:?} is not allowed (use letters, digits and _ . : @ -)"),
        ));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
    };
}

string_newtype!(
    /// The tenant an API key belongs to. Every aggregate id, row and cache key carries it, so a
    /// tenant can never name another tenant's data.
    TenantId
);
string_newtype!(
    /// The assistant's id for the person it talks with: 1–128 characters of `[A-Za-z0-9_.:@-]`,
    /// so it can be embedded in keys and URLs without escaping.
    UserId
);
string_newtype!(
    /// A dotted, lowercase fact key such as `favorite.food` or `family.sister`.
    FactKey
);
string_newtype!(
    /// A fact's value, NFC-normalised so `phở` typed on any keyboard is stored the same way.
    FactValue
);
string_newtype!(
    /// A readable sentence stating the fact in the conversation's language.
    FactText
);
string_newtype!(
    /// A short language tag (`en`, `vi`, `en-us`).
    Language
);

impl TenantId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_identifier("tenant", raw, Self::MAX_CHARS)?;
        Ok(Self(raw.to_owned()))
    }
}

impl UserId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_identifier("user_id", raw, Self::MAX_CHARS)?;
        Ok(Self(raw.to_owned()))
    }
}

/// Whether a key holds one live value (a new one replaces it) or gathers several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    Single,
    Multi,
}

/// The broad class of a fact, derived from its key so it can never disagree with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    Identity,
    Preference,
    Dislike,
    Relationship,
    Health,
    Goal,
    Event,
    Other,
}

impl FactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Preference => "preference",
            Self::Dislike => "dislike",
            Self::Relationship => "relationship",
            Self::Health => "health",
            Self::Goal => "goal",
            Self::Event => "event",
            Self::Other => "other",
        }
    }
}

/// Whether a key states that the user likes or dislikes something, so the two can be kept from
/// both being live for the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sentiment {
    Positive,
    Negative,
}

const SINGLE_VALUED: &[&str] = &[
    "name",
    "nickname",
    "age",
    "birthday",
    "location",
    "school",
    "school.grade",
    "occupation",
    "goal.dream_job",
];

impl FactKey {
    pub const MAX_CHARS: usize = 64;
    pub const MAX_SEGMENTS: usize = 4;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "key",
                format!("must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        let segments: Vec<&str> = raw.split('.').collect();
        if segments.len() > Self::MAX_SEGMENTS {
            return Err(ValidationError::new(
                "key",
                format!("at most {} dotted segments", Self::MAX_SEGMENTS),
            ));
        }
        for segment in &segments {
            let valid = !segment.is_empty()
                && segment.starts_with(|c: char| c.is_ascii_lowercase())
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(ValidationError::new(
                    "key",
                    format!(
                        "{raw:?} must be dotted lowercase segments like \"favorite.food\" \
                         (each segment starts with a-z, then a-z, 0-9 or _)"
                    ),
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The part before the first dot: `favorite` for `favorite.food`.
    pub fn family(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }

    /// The part after the first dot: `food` for `favorite.food`, empty for `name`.
    pub fn topic(&self) -> &str {
        self.0.split_once('.').map_or("", |(_, topic)| topic)
    }

    /// Single-valued keys are the ones a person has one of at a time (a name, a favourite
    /// food); everything else gathers values, so an unknown key never overwrites anything.
    pub fn cardinality(&self) -> Cardinality {
        if SINGLE_VALUED.contains(&self.0.as_str()) || self.family() == "favorite" {
            Cardinality::Single
        } else {
            Cardinality::Multi
        }
    }

    pub fn kind(&self) -> FactKind {
        match self.family() {
            "name" | "nickname" | "age" | "birthday" | "location" | "school" | "occupation" => {
                FactKind::Identity
            }
            "favorite" | "likes" => FactKind::Preference,
            "dislikes" => FactKind::Dislike,
            "family" | "pet" => FactKind::Relationship,
            "health" => FactKind::Health,
            "goal" => FactKind::Goal,
            "event" => FactKind::Event,
            _ => FactKind::Other,
        }
    }

    pub fn sentiment(&self) -> Option<Sentiment> {
        match self.family() {
            "favorite" | "likes" => Some(Sentiment::Positive),
            "dislikes" => Some(Sentiment::Negative),
            _ => None,
        }
    }
}

fn normalise_text(field: &'static str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    // Every stored value is read back through here (each fact of a memory, on every load), and
    // nearly all are already NFC: the quick check spares them the composing pass.
    let nfc: String = match unicode_normalization::is_nfc_quick(trimmed.chars()) {
        unicode_normalization::IsNormalized::Yes => trimmed.to_owned(),
        _ => trimmed.nfc().collect(),
    };
    let chars = nfc.chars().count();
    if chars == 0 || chars > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if nfc
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(nfc)
}

impl FactValue {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        normalise_text("value", raw, Self::MAX_CHARS).map(Self)
    }

    /// The form two values are compared in: case, accents and spacing folded, so `Phở`,
    /// `phở` and `pho` are the same value while `Lan` and `Lân` as written are kept apart
    /// only by what the user typed, never by their keyboard's Unicode form.
    pub fn match_key(&self) -> String {
        fold_for_match(&self.0)
    }
}

/// Case-, accent- and space-insensitive form of a text, used to tell whether two values name
/// the same thing. `đ` has no decomposition in Unicode, so it is mapped by hand.
pub fn fold_for_match(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        match c {
            'đ' | 'Đ' => folded.push('d'),
            c if c.is_whitespace() => {
                if !folded.ends_with(' ') && !folded.is_empty() {
                    folded.push(' ');
                }
            }
            c => folded.extend(c.to_lowercase()),
        }
    }
    folded.trim_end().to_owned()
}

impl FactText {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        normalise_text("text", raw, Self::MAX_CHARS).map(Self)
    }
}

impl Language {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let lower = raw.trim().to_ascii_lowercase();
        let valid = (2..=12).contains(&lower.len())
            && lower.starts_with(|c: char| c.is_ascii_lowercase())
            && lower.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        if !valid {
            return Err(ValidationError::new(
                "language",
                format!("{raw:?} is not a language tag like \"en\" or \"vi\""),
            ));
        }
        Ok(Self(lower))
    }
}

/// How sure the extractor (or the person who typed it) is of a fact, in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Confidence(f64);

impl Confidence {
    pub const CERTAIN: Self = Self(1.0);

    pub fn new(value: f64) -> Result<Self, ValidationError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ValidationError::new(
                "confidence",
                format!("{value} is not between 0 and 1"),
            ))
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Confidence {
    type Error = ValidationError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Confidence> for f64 {
    fn from(value: Confidence) -> Self {
        value.0
    }
}

macro_rules! uuid_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered id, so ids sort by creation and index well.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(raw).map(Self).map_err(|_| {
                    ValidationError::new(stringify!($name), format!("{raw:?} is not a UUID"))
                })
            }
        }
    };
}

uuid_newtype!(
    /// Identifies one fact across all its versions.
    FactId
);
uuid_newtype!(
    /// Identifies one extraction job; the worker uses it to make redelivery harmless.
    JobId
);

/// The aggregate id of a user's memory: tenant and user joined by `/`, a character neither may
/// contain, so two tenants' users can never share an aggregate.
pub fn user_memory_id(tenant: &TenantId, user: &UserId) -> String {
    format!("{tenant}/{user}")
}

/// The aggregate id of an extraction job, scoped by tenant like every other id.
pub fn extraction_job_id(tenant: &TenantId, job: &JobId) -> String {
    format!("{tenant}/{job}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_accept_the_documented_alphabet_only() {
        assert!(UserId::parse("kid-42@family.example:1_a").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"a".repeat(128)).is_ok());
        assert!(UserId::parse(&"a".repeat(129)).is_err());
        assert!(UserId::parse("a/b").is_err());
        assert!(UserId::parse("bé Minh").is_err());
    }

    #[test]
    fn fact_keys_are_dotted_lowercase_segments() {
        assert!(FactKey::parse("favorite.food").is_ok());
        assert!(FactKey::parse("goal.dream_job").is_ok());
        for bad in [
            "",
            "Favorite.food",
            "favorite..food",
            ".name",
            "name.",
            "1st",
            "a b",
        ] {
            assert!(FactKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn key_cardinality_and_kind_follow_the_key_family() {
        let key = |k: &str| FactKey::parse(k).unwrap();
        assert_eq!(key("name").cardinality(), Cardinality::Single);
        assert_eq!(key("school.grade").cardinality(), Cardinality::Single);
        assert_eq!(key("favorite.color").cardinality(), Cardinality::Single);
        assert_eq!(key("likes.food").cardinality(), Cardinality::Multi);
        assert_eq!(key("health.allergy").cardinality(), Cardinality::Multi);
        assert_eq!(key("something.new").cardinality(), Cardinality::Multi);
        assert_eq!(key("dislikes.food").kind(), FactKind::Dislike);
        assert_eq!(key("pet.dog").kind(), FactKind::Relationship);
        assert_eq!(key("age").kind(), FactKind::Identity);
    }

    #[test]
    fn values_are_nfc_so_vietnamese_round_trips() {
        let decomposed = "pho\u{31B}\u{309}"; // "phở" typed with combining marks
        let value = FactValue::parse(decomposed).unwrap();
        assert_eq!(value.as_str(), "phở");
        let json = serde_json::to_string(&value).unwrap();
        let back: FactValue = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "phở");
    }

    #[test]
    fn match_key_folds_case_accents_and_spaces() {
        let v = |s: &str| FactValue::parse(s).unwrap().match_key();
        assert_eq!(v("Phở"), v("phở"));
        assert_eq!(v("Đà  Nẵng"), "da nang");
        assert_ne!(v("pizza"), v("pasta"));
    }

    #[test]
    fn bounded_text_and_confidence() {
        assert!(FactValue::parse("   ").is_err());
        assert!(FactValue::parse(&"x".repeat(201)).is_err());
        assert!(FactText::parse("a\u{0}b").is_err());
        assert!(Confidence::new(1.5).is_err());
        assert!(Confidence::new(f64::NAN).is_err());
        assert!(Confidence::new(0.0).is_ok());
        assert!(serde_json::from_str::<Confidence>("2.0").is_err());
    }

    #[test]
    fn deserialising_checks_the_same_rules() {
        assert!(serde_json::from_str::<UserId>("\"a/b\"").is_err());
        assert!(serde_json::from_str::<FactKey>("\"Name\"").is_err());
        assert!(Language::parse("vi").is_ok());
        assert!(Language::parse("v").is_err());
    }
}
