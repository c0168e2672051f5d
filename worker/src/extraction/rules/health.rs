//! Allergies and diets.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{DIRECT, Finding, WEAK};
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{cut_at_stops, fold_case, starts_with_word, strip_leading};
use super::words::{LEADING_FILLERS, NOT_A_THING, PREFERENCE_STOPS};

/// Words of quantity that make "X makes me sick" about eating too much of it.
const AMOUNTS: [&str; 8] = [
    "too much",
    "too many",
    "a lot of",
    "lots of",
    "nhiều",
    "quá nhiều",
    "nhieu",
    "qua nhieu",
];

/// Allergies (also stated as the reason for not eating something) and diets.
#[derive(Debug)]
pub(super) struct HealthPatterns {
    pub(super) allergy: Vec<Regex>,
    pub(super) allergy_because: Vec<Regex>,
    pub(super) allergy_cause: Vec<Regex>,
    pub(super) diet: Vec<Regex>,
    pub(super) diet_avoid: Vec<Regex>,
}

impl HealthPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            allergy: templates.all(&[
                r"^(?:<IAM>|i|i've been|i was|i get) (?:(?:really|very|super|so|also|a little|a bit|quite|severely|seriously|deathly) )*allergic to (.+)$",
                r"^i (?:also )?have (?:a |an )?(?:really bad |bad |severe |serious )?(.+?) allerg(?:y|ies)\b",
                r"^i (?:also )?have (?:an )?allerg(?:y|ies) to (.+)$",
                r"^<SELF> (?:(?:bị|cũng|rất|hơi|thì|lại) )*dị ứng (?:với )?(.+)$",
                r"^<SELF> (?:không|ko|chẳng) ăn được (.+?) vì (?:bị )?dị ứng",
            ])?,
            // The claim and its reason, either way round: "I can't drink milk, I'm allergic",
            // "I'm allergic so I can't eat peanuts".
            allergy_because: templates.all(&[
                r"^i (?:can't|cannot|can not|don't|do not|dont|mustn't|never) (?:eat|drink|have|touch) (.+?),?\s+(?:(?:because|cause|'cause|since|as)\s+)?(?:<IAM>|i get|i'm) (?:(?:really|very|super|so|a little) )*allergic\b",
                r"^(?:<IAM>|i get) (?:(?:really|very|super|so|a little) )*allergic(?: to (?:it|them|that))?,? (?:so|and) i (?:can't|cannot|can not|don't|do not|dont|mustn't|never) (?:eat|drink|have|touch) (.+)$",
            ])?,
            // What eating something does: "peanuts make me sick", "em ăn trứng là bị nổi mẩn".
            allergy_cause: templates.all(&[
                r"^(.+?) (?:make|makes|give|gives) (?:me|my (?:tummy|stomach|belly|throat|skin)) (?:really |very |so |super )?(?:sick|ill|itchy|rashes|a rash|hives|swell up|puff up|throw up|hurt|ache)\b",
                r"^(.+?) làm <SELF> (?:bị )?(?:ngứa|nổi mẩn|dị ứng|đau bụng|nôn)\b",
                r"^<SELF> (?:mà )?(?:ăn|uống) (.+?),? (?:là|thì|vào là|xong là) (?:(?:bị|lại) )*(?:ngứa|nổi mẩn|dị ứng|đau bụng|nôn|khó thở)\b",
            ])?,
            diet: templates.all(&[
                r"^(?:<IAM>|we're|we are|my family is|my family are|i've been|i have been) (?:(?:a|an|also|strictly|fully|now) )*(<DIET>)\b",
                r"^(?:i|we|my family) (?:only |just )?eat (<DIET>)\b",
                r"^(?:(?:nhà|gia đình) )?<SELF> (?:(?:đang|chỉ|cũng|thì|đều|hay) )*(<DIET>)\b",
            ])?,
            diet_avoid: templates.all(&[
                r"^(?:i|we|my family) (?:don't|do not|dont|never|can't|cannot|doesn't) eat (meat|pork|beef|seafood|dairy|gluten)\b",
                r"^(?:(?:nhà|gia đình) )?<SELF> (?:không|ko|chẳng) ăn (thịt lợn|thịt heo|thịt bò|thịt|hải sản)\b",
            ])?,
        })
    }
}

impl RulesExtractor {
    /// "I can't eat shrimp because I'm allergic": the allergen and the allergy are in
    /// different clauses, so this reads the whole sentence.
    pub(super) fn allergy_with_reason(
        &self,
        sentence: &str,
        out: &mut Vec<(Finding, Option<u32>)>,
    ) {
        let text = self.strip_clause(sentence);
        let patterns = &self.patterns.health;
        let claim = |res: &[regex::Regex]| {
            res.iter()
                .find_map(|re| re.captures(text).and_then(|caps| group(&caps, 1)))
        };
        // "X makes me sick" is an allergy only when X is something one eats or drinks, not
        // "homework makes me sick".
        let (phrase, must_be_food) = match claim(&patterns.allergy_because) {
            Some(phrase) => (phrase, false),
            None => match claim(&patterns.allergy_cause) {
                Some(phrase) => (phrase, true),
                None => return,
            },
        };
        // "Too much candy makes me sick" is about the amount, not an allergy.
        if must_be_food
            && AMOUNTS
                .iter()
                .any(|amount| fold_case(phrase).contains(amount))
        {
            return;
        }
        // Said as a cause ("milk makes my tummy hurt"), it is a guess at an allergy.
        let confidence = if must_be_food { WEAK } else { DIRECT };
        let phrase = cut_at_stops(phrase, PREFERENCE_STOPS, true);
        for piece in self.split_list(phrase) {
            let value = fold_case(strip_leading(piece, LEADING_FILLERS));
            let edible = || {
                self.lexicon
                    .topic_of(&value)
                    .is_some_and(|topic| matches!(topic, "food" | "drink" | "fruit"))
            };
            if !value.is_empty()
                && !starts_with_word(&value, NOT_A_THING)
                && (!must_be_food || edible())
            {
                out.push((Finding::assert("health.allergy", value, confidence), None));
            }
        }
    }

    pub(super) fn health(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        let text = clause.text;
        let patterns = &self.patterns.health;
        if let Some(phrase) = patterns
            .allergy
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            let phrase = cut_at_stops(phrase, PREFERENCE_STOPS, true);
            for piece in self.split_list(phrase) {
                let value = strip_leading(piece, LEADING_FILLERS);
                let lower = fold_case(value);
                if !value.is_empty() && !starts_with_word(&lower, NOT_A_THING) {
                    out.push(Finding::assert("health.allergy", lower, DIRECT));
                }
            }
        }
        if let Some(diet) = patterns
            .diet
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            out.push(Finding::assert("health.diet", fold_case(diet), DIRECT));
        } else if let Some((index, food)) =
            patterns.diet_avoid.iter().enumerate().find_map(|(i, re)| {
                re.captures(text)
                    .and_then(|caps| group(&caps, 1))
                    .map(|f| (i, f))
            })
        {
            let value = if index == 0 {
                format!("no {}", food.to_lowercase())
            } else {
                format!("không ăn {}", food.to_lowercase())
            };
            out.push(Finding::assert("health.diet", value, DIRECT));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn health_facts() {
        assert_eq!(
            says("I'm allergic to peanuts and eggs."),
            ["health.allergy=peanuts", "health.allergy=eggs"]
        );
        assert_eq!(says("I'm vegetarian."), ["health.diet=vegetarian"]);
        assert_eq!(
            says("Con bị dị ứng với hải sản."),
            ["health.allergy=hải sản"]
        );
        assert_eq!(
            says("I can't drink milk, I'm allergic."),
            ["health.allergy=milk"]
        );
        assert_eq!(
            says("Peanuts make me sick so I can't eat them."),
            ["health.allergy=peanuts"]
        );
        assert!(says("Homework makes me sick.").is_empty());
        assert!(says("Too much candy makes me sick.").is_empty());
        assert_eq!(
            says("Milk makes my tummy hurt really bad."),
            ["health.allergy=milk"]
        );
        assert_eq!(
            says("Em ăn trứng là bị nổi mẩn đỏ khắp người."),
            ["health.allergy=trứng"]
        );
        assert_eq!(
            says("Em bị dị ứng tôm nên không ăn được."),
            ["health.allergy=tôm"]
        );
    }
}
