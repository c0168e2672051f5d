//! The user's dream job.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{DIRECT, Finding};
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{cut_at_stops, starts_with_word, strip_leading};
use super::words::PLACE_STOPS;

/// "I want to be …", "My dream is …" and their Vietnamese forms.
#[derive(Debug)]
pub(super) struct GoalPatterns {
    pub(super) goal: Vec<Regex>,
    pub(super) dream: Vec<Regex>,
}

impl GoalPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            goal: templates.all(&[
                r"^i (?:(?:really|also|just|still|kind of|kinda|totally|definitely) )*(want|wanna|would like|'d like|would love|'d love|hope|plan|dream|am going|'m going|'m gonna|am gonna|gonna|wish|will|'ll|shall) (?:to )?(?:be|become) (.+)$",
                r"^<SELF> (?:(?:rất|cũng|thì|luôn) )*(muốn|mơ ước|ước mơ|ước|mong|mong muốn|dự định|định|thích|sẽ|mơ) (?:được |sẽ )?(?:làm|trở thành|thành|là|làm nghề) (?:một |1 )?(.+)$",
            ])?,
            dream: templates.all(&[
                r"^my (?:big |biggest |only )?dream(?: job)?(?: is|'s)(?: to (?:be|become))? (.+)$",
                r"^ước mơ (?:của )?<SELF> (?:là|là được|chính là) (?:được |sẽ )?(?:làm |trở thành |thành |là )?(?:một )?(.+)$",
            ])?,
        })
    }
}

impl RulesExtractor {
    pub(super) fn goals(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) -> bool {
        let patterns = &self.patterns.goals;
        let (verb, phrase, dream) =
            if let Some(caps) = patterns.goal.iter().find_map(|re| re.captures(clause.text)) {
                (group(&caps, 1).unwrap_or(""), group(&caps, 2), false)
            } else if let Some(caps) = patterns
                .dream
                .iter()
                .find_map(|re| re.captures(clause.text))
            {
                ("", group(&caps, 1), true)
            } else {
                return false;
            };
        let Some(phrase) = phrase else {
            return false;
        };
        let verb = verb.to_lowercase();
        let only_with_future = matches!(verb.as_str(), "will" | "'ll" | "shall" | "sẽ");
        let only_jobs = verb == "thích";
        let phrase = cut_at_stops(phrase, PLACE_STOPS, true);
        let phrase = cut_at_stops(
            phrase,
            &["when", "because", "like", "khi", "vì", "giống"],
            false,
        );
        let job = self.lexicon.job_in(phrase);
        let has_article = starts_with_word(phrase, &["a", "an", "một"]);
        let value = match job {
            Some(job) if !only_with_future || clause.future => job,
            Some(_) => return false,
            None if only_jobs => return false,
            None if dream || (clause.future && has_article) => {
                let bare_phrase = strip_leading(phrase, &["a", "an", "the", "một"]);
                if bare_phrase.is_empty() || bare_phrase.split_whitespace().count() > 4 {
                    return false;
                }
                bare_phrase.to_lowercase()
            }
            None => return false,
        };
        out.push(Finding::assert("goal.dream_job", value, DIRECT));
        true
    }
}
