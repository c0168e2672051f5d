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

/// Vietnamese typed without any mark ("minh ten la Bao, minh 9 tuoi"): no letter outside ASCII
/// and more unmarked Vietnamese function words than English ones. Such a message is read by
/// patterns and words with their marks taken off; a message with even one mark is read as
/// typed, where "cho" (give) and "chó" (dog) stay apart.
pub(super) fn is_unaccented_vietnamese(text: &str) -> bool {
    const VI_WORDS: &[&str] = &[
        "em", "con", "minh", "toi", "tui", "chau", "la", "thich", "khong", "cua", "va", "co",
        "ten", "tuoi", "nha", "o", "rat", "cung", "hoc", "lop", "muon", "nua", "bi", "duoc",
        "nhat", "ghet", "nuoi", "choi", "lam", "roi", "nhung", "vi", "nen", "truong", "bo", "ba",
        "anh", "chi", "ban", "mau", "mon", "sinh", "gio", "thi", "mot", "hai", "nay", "oi", "nhe",
        "ne", "di", "ve",
    ];
    const EN_WORDS: &[&str] = &[
        "i",
        "i'm",
        "my",
        "is",
        "the",
        "and",
        "like",
        "love",
        "have",
        "am",
        "of",
        "in",
        "you",
        "me",
        "it",
        "we",
        "don't",
        "with",
        "im",
        "are",
        "your",
        "what",
        "he",
        "she",
        "his",
        "her",
        "was",
        "name",
        "years",
        "old",
        "favorite",
        "favourite",
        "dog",
        "cat",
        "play",
        "live",
    ];
    if text.chars().any(|c| c.is_alphabetic() && !c.is_ascii()) {
        return false;
    }
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let vi = words.iter().filter(|w| VI_WORDS.contains(w)).count();
    let en = words.iter().filter(|w| EN_WORDS.contains(w)).count();
    vi >= 2 && vi > en * 2
}

#[cfg(test)]
mod tests {
    use super::is_unaccented_vietnamese;

    #[test]
    fn unaccented_vietnamese_is_told_from_english_and_from_marked_text() {
        assert!(is_unaccented_vietnamese("minh ten la Bao, minh 9 tuoi"));
        assert!(is_unaccented_vietnamese("em thich an pho lam"));
        assert!(!is_unaccented_vietnamese("Em thích ăn phở lắm"));
        assert!(!is_unaccented_vietnamese("I have a dog named Max"));
        assert!(!is_unaccented_vietnamese("my mom and my dad love me"));
        assert!(!is_unaccented_vietnamese("ok"));
    }
}
