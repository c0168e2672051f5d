//! Text handling shared by every reader: one spelling for lookups (NFC, lower case, single
//! spaces), words with their offsets, cutting values at stop words, and casing.

use unicode_normalization::UnicodeNormalization;

/// The lowercase NFC form every lookup uses, with single spaces.
pub(super) fn fold_case(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    nfc.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The text without Vietnamese tone and vowel marks, its case kept ("Phở Đà Nẵng" → "Pho Da
/// Nang"): how a child types Vietnamese on a keyboard without a Vietnamese input method. Each
/// character maps to one character, so the folded text has the same words in the same order.
pub(super) fn strip_marks(text: &str) -> String {
    let bare: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect();
    bare.nfc().collect()
}

/// A lexicon word as facts store it: trimmed and NFC, its capitals kept ("English").
pub(super) fn nfc(text: &str) -> String {
    text.trim().nfc().collect()
}

/// Curly quotes to straight ones and runs of spaces to one, so patterns see one spelling.
pub(super) fn normalise_message(text: &str) -> String {
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

/// Words with their byte offsets. Split at whitespace only, so punctuation stays on its word:
/// a comma after a word ends a list of names or a place. Unicode word boundaries
/// (`unicode-segmentation`) would split the punctuation off, so they are not used here.
pub(super) fn word_spans(text: &str) -> Vec<(usize, &str)> {
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
pub(super) fn bare(word: &str) -> &str {
    word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '#'))
}

/// The text before the first stop phrase; with `at_comma`, also before the first comma. A
/// capitalised word is part of a name, never a stop ("Nha Trang" is not the particle "nha").
pub(super) fn cut_at_stops<'a>(text: &'a str, stops: &[&str], at_comma: bool) -> &'a str {
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
pub(super) fn trim_value(text: &str) -> &str {
    text.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | '.' | '!' | '?' | ';' | ':' | '"' | '(' | ')' | '~')
    })
}

/// Drops leading words from `words`, longest phrase first, while something is left.
pub(super) fn strip_leading<'a>(text: &'a str, words: &[&str]) -> &'a str {
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
pub(super) fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let after = text.get(word.len()..)?;
    (head.to_lowercase() == word && after.starts_with(' ')).then(|| after.trim_start())
}

pub(super) fn starts_with_word(text: &str, words: &[&str]) -> bool {
    let lower = text.to_lowercase();
    words.iter().any(|w| {
        lower == *w
            || (lower.starts_with(w)
                && lower[w.len()..].starts_with(|c: char| !c.is_alphanumeric()))
    })
}

/// First letter in upper case, the rest as typed.
pub(super) fn title_case_word(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn title_case(text: &str) -> String {
    text.split(' ')
        .map(title_case_word)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn is_capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// A place as typed, title-cased when it was typed all in lower case.
pub(super) fn place_case(text: &str) -> String {
    if text.chars().any(char::is_uppercase) {
        text.to_owned()
    } else {
        title_case(text)
    }
}

/// A topic named by an unknown English noun, usable as a key segment.
pub(super) fn slug(phrase: &str) -> Option<String> {
    let word = phrase.split_whitespace().last()?.to_lowercase();
    let valid = word.starts_with(|c: char| c.is_ascii_lowercase())
        && word.chars().all(|c| c.is_ascii_lowercase());
    valid.then_some(word)
}
