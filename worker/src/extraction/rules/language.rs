//! Which of the two languages a message is in, so its facts are described in that language and
//! a short answer is judged by that language's word counts.

/// The languages the rules read; anything else is read as English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    En,
    Vi,
}

impl Lang {
    pub(super) fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Vi => "vi",
        }
    }
}

/// Vietnamese when its function words or diacritics outweigh English function words.
///
/// Hand-written rather than `whatlang`: a child's message is a few words, too short for
/// trigram statistics, and `whatlang` (even limited to English and Vietnamese) calls "I am 9.",
/// "Cool." and "Do you like dogs?" from the development set Vietnamese, which would change those
/// facts' language and text. The words are not split with `unicode-segmentation` either: its
/// word boundaries join letters across '.', ':' and '_', so "i.e. em" would turn Vietnamese.
pub(super) fn detect_language(text: &str) -> Lang {
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
