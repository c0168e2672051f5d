//! Values inside a clause: liked things cut from their list, verbs and fillers, each filed under
//! a topic; and names at the start of a phrase.

use super::RulesExtractor;
use super::text::{
    bare, cut_at_stops, fold_case, is_capitalised, starts_with_word, strip_leading, strip_word,
    title_case, trim_value, word_spans,
};
use super::words::{LEADING_FILLERS, NAME_STOPS, NOT_A_THING, PREFERENCE_STOPS};

/// A liked thing with its topic.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    pub(super) value: String,
    pub(super) topic: String,
    /// The topic is a fallback, not a lexicon entry.
    pub(super) guessed: bool,
}

impl RulesExtractor {
    /// Liked things in a phrase: "playing football with my friends" → football (activity);
    /// "ăn kem và bánh mì" → kem, bánh mì (food).
    pub(super) fn preference_items(&self, phrase: &str, at_clause_start: bool) -> Vec<Item> {
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
    pub(super) fn split_list<'t>(&self, phrase: &'t str) -> Vec<&'t str> {
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        for sep in self.patterns.sentences.list_separator.find_iter(phrase) {
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
    pub(super) fn names(&self, text: &str) -> (Vec<String>, usize) {
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
    pub(super) fn first_name(&self, text: &str) -> Option<String> {
        self.names(text).0.into_iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

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
}
