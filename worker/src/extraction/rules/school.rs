//! The user's school and grade.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{DIRECT, Finding};
use super::patterns::{Templates, group};
use super::text::{
    cut_at_stops, fold_case, place_case, starts_with_word, strip_leading, trim_value,
};
use super::words::{ORDINALS, PLACE_STOPS, SCHOOL_WORDS};

/// Statements of grade and school, and the first-person openings that make them the user's.
#[derive(Debug)]
pub(super) struct SchoolPatterns {
    pub(super) first_person_en: Regex,
    pub(super) first_person_vi: Regex,
    pub(super) grade: Vec<Regex>,
    pub(super) grade_ordinal: Regex,
    pub(super) school_en: Regex,
    pub(super) school_is: Vec<Regex>,
    pub(super) school_vi: Regex,
}

impl SchoolPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            first_person_en: templates.one(r"^(?:i|i'm|im|i've|we|we're|my|our)\b")?,
            first_person_vi: templates.one(r"^(?:nhà )?<SELF>\b")?,
            grade: templates.all(&[
                r"\b(?:grade|year|class) (\d{1,2}|<NUM>)(?:[a-z])?\b",
                r"\b(\d{1,2})(?:st|nd|rd|th) grade(?:r)?\b",
                r"\blớp (\d{1,2}|<NUM>)(?:[a-z])?\b",
            ])?,
            grade_ordinal: templates.one(
                r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth) grade(?:r)?\b",
            )?,
            school_en: templates.one(
                r"\b(?:at|attend|attends|go to|goes to|study at|studying at|in|from)\s+(<CAP>[\p{L}\p{N}'.&-]*(?:\s+(?:<CAP>[\p{L}\p{N}'.&-]*|\d+|school|academy|kindergarten|preschool|elementary|primary|secondary|high|middle|college|international|bilingual)){0,6})",
            )?,
            school_is: templates.all(&[
                r"^my school(?:'s name)?(?: is|'s)(?: called| named)? (.+)$",
                r"^trường (?:học )?(?:của )?<SELF> (?:tên )?là\s+(?:trường\s+)?(.+)$",
            ])?,
            school_vi: templates.one(r"\btrường\s+(.+)$")?,
        })
    }
}

impl RulesExtractor {
    pub(super) fn school(&self, text: &str, out: &mut Vec<Finding>) {
        let patterns = &self.patterns.school;
        let english = patterns.first_person_en.is_match(text)
            && !starts_with_word(text, &["i'll", "i will", "i want", "i wanna", "i hope"]);
        let vietnamese = patterns.first_person_vi.is_match(text);
        if let Some(rest) = patterns
            .school_is
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            if let Some(school) = self.school_name(rest) {
                out.push(Finding::assert("school", school, DIRECT));
            }
            return;
        }
        if !english && !vietnamese {
            return;
        }
        let grade = patterns
            .grade
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1).and_then(|g| self.lexicon.number(g)))
            .or_else(|| {
                patterns
                    .grade_ordinal
                    .captures(text)
                    .and_then(|caps| group(&caps, 1))
                    .and_then(|o| ORDINALS.iter().position(|w| w.eq_ignore_ascii_case(o)))
                    .and_then(|i| u32::try_from(i + 1).ok())
            });
        if let Some(grade) = grade.filter(|g| (1..=12).contains(g)) {
            out.push(Finding::assert("school.grade", grade.to_string(), DIRECT));
        }
        let school = if english {
            patterns
                .school_en
                .captures(text)
                .and_then(|caps| group(&caps, 1))
                .filter(|name| {
                    let lower = name.to_lowercase();
                    lower
                        .split_whitespace()
                        .any(|word| SCHOOL_WORDS.contains(&word))
                })
                .map(|name| trim_value(name).to_owned())
        } else {
            patterns
                .school_vi
                .captures(text)
                .and_then(|caps| group(&caps, 1))
                .and_then(|rest| self.school_name(rest))
        };
        if let Some(school) = school {
            out.push(Finding::assert("school", school, DIRECT));
        }
    }

    fn school_name(&self, rest: &str) -> Option<String> {
        let name = cut_at_stops(rest, PLACE_STOPS, true);
        let name = strip_leading(name, &["the", "trường"]);
        let lower = fold_case(name);
        let pronoun = [
            "em", "con", "mình", "tớ", "tôi", "cháu", "my", "our", "học", "nào",
        ];
        if name.is_empty() || lower.split(' ').count() > 8 || starts_with_word(&lower, &pronoun) {
            return None;
        }
        Some(place_case(name))
    }
}
