//! What the user likes, loves most and dislikes, and activities they do regularly.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{DIRECT, Finding, HABIT, WEAK};
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{cut_at_stops, fold_case, slug, starts_with_word, strip_leading, trim_value};
use super::words::PREFERENCE_STOPS;

/// Favourites, likes, dislikes and habits, in both languages.
#[derive(Debug)]
pub(super) struct PreferencePatterns {
    pub(super) favorite_my: Regex,
    pub(super) favorite_is_my: Regex,
    pub(super) favorite_most: Regex,
    pub(super) favorite_topic_most: Regex,
    pub(super) favorite_vi_topic: Regex,
    pub(super) favorite_vi_most_first: Regex,
    pub(super) favorite_vi_most_last: Regex,
    pub(super) favorite_vi_is: Regex,
    pub(super) favorite_comparative: Vec<Regex>,
    pub(super) favorite_best: Regex,
    pub(super) favorite_after_thing: Regex,
    pub(super) best_of_topic: Regex,
    pub(super) dislike: Vec<Regex>,
    pub(super) dislike_yucky: Regex,
    pub(super) like: Vec<Regex>,
    pub(super) habit: Vec<Regex>,
}

impl PreferencePatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            favorite_my: templates.one(
                r"^(?:my|our) (?:(?:very|most|all-time|all time|absolute|number one|#1|real|true|actual|new|favou?rite) )*(?:favou?rite|favou?rit|favrit|fave|fav)(?:\s+(.+?))?(?:'s|\s+is|\s+are|\s+was|\s+has to be|\s+would be|\s+has always been|\s+là|\s+thì là)\s+(.+)$",
            )?,
            favorite_is_my: templates.one(
                r"^(.+?)(?:\s+is|\s+are|'s)\s+(?:definitely |really |probably |also |still |now )?my (?:very |most |all-time |all time |absolute |new )?favou?rite(?:\s+(.+))?$",
            )?,
            favorite_most: templates.one(
                r"^i (?:(?:really|just|also) )*(?:like|love|enjoy) (.+?)(?: the)? (?:most|best)(?: of all| in the world| ever)?$",
            )?,
            favorite_topic_most: templates.one(
                r"^(?:the )?(.+?) (?:that )?i (?:like|love|enjoy) (?:the )?(?:most|best) (?:is|are) (.+)$",
            )?,
            favorite_vi_topic: templates.one(
                r"^(<TOPIC>)(?:\s+mà)?\s+(?:(?:yêu thích|ưa thích|ưng ý|favou?rite)(?:\s+nhất)?(?:\s+của\s+<SELF>)?|<SELF>\s+(?:(?:rất|cũng)\s+)?(?:thích|yêu|mê|khoái|ưng|ghiền)\s+nhất|(?:thích|yêu)\s+nhất\s+của\s+<SELF>)\s+(?:là|chính là|thì là|thì)\s+(.+)$",
            )?,
            favorite_vi_most_first: templates.one(
                r"^<SELF> (?:(?:rất|cũng|thì) )*(?:thích|yêu|mê|khoái|ghiền) nhất(?: là)?\s+(.+)$",
            )?,
            favorite_vi_most_last: templates.one(
                r"^<SELF> (?:(?:rất|cũng|thì|lại|vẫn|còn|luôn) )*(?:thích|yêu|mê|khoái|ghiền)\s+(.+?)\s+nhất(?:\s+(?:trên đời|trên thế giới|luôn|ạ|đó|á|rồi|lắm|nữa|cơ|nha|nè))*(?:\s*,.*)?$",
            )?,
            favorite_vi_is: templates.one(
                r"^(.+?) là (?:(<TOPIC>)\s+)?(?:mà\s+)?(?:<SELF> (?:thích|yêu|mê) nhất|(?:yêu thích|ưa thích)(?: nhất)?(?: của <SELF>)?)$",
            )?,
            // A preference stated against another ("now I like green better", "mình thích màu
            // xanh lá hơn") puts the thing above the rest: it is the favourite now.
            favorite_comparative: templates.all(&[
                r"^i (?:(?:now|really|just|actually|kinda|kind of|think i|do) )*(?:like|love|prefer) (.+?) (?:better|more)(?: now| these days)?(?: than .+)?$",
                r"^i (?:(?:now|really|just|actually) )*prefer (.+?)(?: now| these days)?(?: than .+)?$",
                r"^<SELF> (?:(?:lại|thì|cũng|rất) )*(?:thích|mê|khoái|ưng|ghiền) (.+?) hơn(?:\s+(?:rồi|nha|ạ|á|nè|nữa|cơ|luôn|nhiều))*(?:\s*,.*)?$",
            ])?,
            // "My best food là bánh mì": "best" for "favourite", as Vietnamese "nhất" reads;
            // only before a topic's name, so "my best friend" stays a friend.
            favorite_best: templates.one(
                r"^(?:my|our) (?:very |all-time )?best (<TOPIC>)(?:'s|\s+is|\s+are|\s+là|\s+thì là)\s+(.+)$",
            )?,
            // "… and I had sushi, which is my favourite food ever": the thing is named before.
            favorite_after_thing: templates.one(
                r"(?:^|\s)(\S+(?:\s\S+)?),?\s+(?:which|that)(?:\s+is|'s)\s+(?:definitely |also |still )?my (?:very |all-time |absolute )?favou?rite\s+(<TOPIC>)\b",
            )?,
            best_of_topic: templates.one(
                r"^(.+?) (?:is|are) (?:the|my) (?:very )?best (<TOPIC>)(?: ever| in the world)?$",
            )?,
            dislike: templates.all(&[
                r"^i (?:(?:really|just|totally|also|still|absolutely|honestly|seriously|kind of|kinda) )*(?:(?:don't|do not|dont|didn't|did not|never) (?:really |even |ever |much |like to )?(?:like|love|enjoy|care for)|(?:can't|cannot|can not|couldn't) stand|hate|hated|dislike|detest|loathe)\s+(.+)$",
                r"^<IAM> (?:not (?:a |really a |really |very )?(?:big |huge )?(?:fan of|into|keen on))\s+(.+)$",
                r"^<SELF> (?:(?:rất|cũng|thật sự|hơi|thì|chả|lại) )*(?:(?:không|chẳng|chả|hông|ko|k|hok|hem) (?:(?:hề|được) )?(?:thích|thik|ưa|khoái|mê|ưng|like)|ghét|hate|sợ ăn|ngán)\s+(.+)$",
            ])?,
            dislike_yucky: templates.one(
                r"^(.+?) (?:is|are|tastes?) (?:so |really |very |too |super )?(?:yucky|gross|disgusting|horrible|nasty)$",
            )?,
            like: templates.all(&[
                r"^(?:i|we|me and (?:my )?\p{L}+|(?:my )?\p{L}+ and i) (?:(?:really|also|just|totally|so|do|still|absolutely|kind of|kinda|sort of|actually|especially|super|truly|quite|honestly|seriously|definitely|very much|both|all) )*(?:like|likes|love|loves|enjoy|enjoys|adore|dig)\s+(.+)$",
                r"^<IAM> (?:(?:really|so|totally|super|also) )*(?:into|crazy about|obsessed with|a (?:big |huge )?fan of)\s+(.+)$",
                r"^<SELF> (?:(?:rất|cũng|thật sự|siêu|cực kỳ|cực kì|đặc biệt|vẫn|hay|rất là|còn|thì|lại|đều|cực|khá) )*(?:thích|thik|yêu|mê|khoái|ghiền|nghiện|hâm mộ|like|love)\s+(.+)$",
                r"^<SELF> (?:là )?(?:một )?(?:fan|fan cứng|fan bự) (?:của )?(.+)$",
            ])?,
            habit: templates.all(&[
                r"^(?:i|we) (?:(?:usually|often|always|also|sometimes|still|now|really) )*(?:play|do|practi[cs]e|go|am learning|'m learning|learn|take|have)\s+(.+)$",
                r"^<SELF> (?:(?:hay|thường|đang|cũng|rất hay|thường xuyên|vẫn|còn|đều|có) )*(?:chơi|tập|học|đi|đi học|đi tập)\s+(.+)$",
            ])?,
        })
    }
}

impl RulesExtractor {
    pub(super) fn favourites(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let text = clause.text;
        let patterns = &self.patterns.preferences;
        let before = out.len();
        if let Some(caps) = patterns.favorite_my.captures(text) {
            let topic = group(&caps, 1);
            if let Some(value) = group(&caps, 2) {
                self.push_favorite(topic, value, false, out);
            }
        } else if let Some(caps) = patterns.favorite_topic_most.captures(text) {
            if let (Some(topic), Some(value)) = (group(&caps, 1), group(&caps, 2)) {
                self.push_favorite(Some(topic), value, false, out);
            }
        } else if let Some(caps) = patterns
            .favorite_most
            .captures(text)
            .or_else(|| patterns.favorite_vi_most_first.captures(text))
            .or_else(|| patterns.favorite_vi_most_last.captures(text))
        {
            if let Some(value) = group(&caps, 1) {
                self.push_favorite(None, value, false, out);
            }
        } else if let Some(caps) = patterns.favorite_vi_topic.captures(text) {
            if let Some(value) = group(&caps, 2) {
                self.push_favorite(group(&caps, 1), value, false, out);
            }
        } else if let Some(caps) = patterns.favorite_best.captures(text)
            && let (Some(topic), Some(value)) = (group(&caps, 1), group(&caps, 2))
            && self
                .lexicon
                .topic_named(topic)
                .is_some_and(|t| t != "person")
        {
            self.push_favorite(Some(topic), value, false, out);
        } else if let Some(caps) = patterns.favorite_after_thing.captures(text) {
            if let (Some(thing), Some(topic)) = (group(&caps, 1), group(&caps, 2)) {
                let thing = strip_leading(
                    trim_value(thing),
                    &[
                        "had", "ate", "eat", "got", "get", "a", "an", "the", "some", "my",
                    ],
                );
                let last = thing.split_whitespace().last().unwrap_or_default();
                let value = [thing, last]
                    .into_iter()
                    .find(|v| self.lexicon.topic_of(v).is_some())
                    .unwrap_or(last);
                self.push_favorite(Some(topic), value, false, out);
            }
        } else if let Some(caps) = patterns
            .favorite_comparative
            .iter()
            .find_map(|re| re.captures(text))
        {
            if let Some(value) = group(&caps, 1) {
                self.push_favorite(None, value, false, out);
            }
        } else if let Some(caps) = patterns.best_of_topic.captures(text) {
            let value = group(&caps, 1).filter(|v| v.split_whitespace().count() <= 4);
            if let Some(value) = value {
                self.push_favorite(group(&caps, 2), value, clause.opens_sentence, out);
            }
        } else if let Some(caps) = patterns
            .favorite_is_my
            .captures(text)
            .or_else(|| patterns.favorite_vi_is.captures(text))
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

    pub(super) fn dislikes(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let text = clause.text;
        let patterns = &self.patterns.preferences;
        let (phrase, at_start) = match patterns.dislike.iter().find_map(|re| re.captures(text)) {
            Some(caps) => (group(&caps, 1), false),
            None => match patterns.dislike_yucky.captures(text) {
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

    pub(super) fn likes(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let Some(phrase) = self
            .patterns
            .preferences
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
            if let Some(caps) = self.patterns.possessions.pet_capital.captures(phrase)
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
    pub(super) fn habits(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let Some(phrase) = self
            .patterns
            .preferences
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

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
}
