//! The user's pets and family: what they have, what each is called, who lives with them and
//! what a relative does.

use regex::{Captures, Regex};

use super::RulesExtractor;
use super::findings::{DIRECT, Finding, WEAK};
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{cut_at_stops, fold_case};
use super::words::PLACE_STOPS;

/// Pets and relatives: owned, named, living with the user, working as something.
#[derive(Debug)]
pub(super) struct PossessionPatterns {
    pub(super) have: Vec<Regex>,
    pub(super) live_with: Regex,
    pub(super) pet_item: Regex,
    pub(super) family_item: Regex,
    pub(super) not_family_after: Regex,
    pub(super) item_separator: Regex,
    pub(super) appositive: Regex,
    pub(super) pet_named: Vec<Regex>,
    pub(super) pet_capital: Regex,
    pub(super) family_named: Vec<Regex>,
    pub(super) family_capital: Regex,
    pub(super) family_lives_with: Vec<Regex>,
    pub(super) family_job: Vec<Regex>,
    pub(super) family_mention: Vec<Regex>,
}

impl PossessionPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            have: templates.all(&[
                r"^(?:i|we|my family) (?:(?:also|still|now|just|both|already|actually|only) )*(?:have|has|'ve got|have got|got|own|owns|keep)\s+(.+)$",
                r"^(?:nhà )?<SELF> (?:(?:cũng|còn|đang|có|đã|mới|vừa|vừa mới|mới được) )*(?:có|nuôi|được tặng)\s+(.+)$",
            ])?,
            live_with: templates.one(
                r"^(?:i|we|(?:nhà )?<SELF>) (?:(?:also|still|now|cũng|đang) )*(?:live|lives|stay|am living|sống|ở) (?:together )?(?:with|cùng|với|chung với)\s+(.+)$",
            )?,
            pet_item: templates.one(
                r"^(?:(<COUNT>)\s+)?(?:(?:con|chú|bé|cô)\s+)?(?:<PETADJ>\s+)*(<ANIMAL>)\b(?:\s+<VIPETADJ>\b)*(?:,?\s+(named|called|whose names? (?:is|are)|and (?:his|her|its|their) names? (?:is|are)|and (?:it's|it is|he's|he is|she's|she is|they're|they are) called|tên là|tên|có tên là|được gọi là|gọi là|là)\b)?\s*",
            )?,
            family_item: templates.one(
                r"^(?:(<COUNT>)\s+)?(?:người\s+)?(?:<FAMADJ>\s+)?(<REL>)\b(?:,?\s+(named|called|whose names? (?:is|are)|tên là|tên|có tên là|là)\b)?\s*",
            )?,
            not_family_after: templates.one(r"^\s*(?:con|chú|bé|cái|quả|chiếc|<ANIMAL>)\b")?,
            item_separator: templates.one(
                r"^\s*(?:,\s*(?:and\s+|và\s+)?|and\s+|và\s+|&\s*|với\s+|cùng\s+)",
            )?,
            appositive: templates.one(r"^\s*(?:[,:(]|\s[-–—])\s*(?:namely\s+|là\s+)?<CAP>")?,
            pet_named: templates.all(&[
                r"^(?:my|our) (?:<PETADJ>\s+)*(<ANIMAL>)(?:'s name is|'s name's| is called| is named| named| called|,| tên là| tên| có tên là)\s+(.+)$",
                r"^(?:con |chú |bé )?(<ANIMAL>)(?:\s+<VIPETADJ>)* (?:của )?(?:nhà )?<SELF> (?:tên là|tên|có tên là|là|được gọi là)\s+(.+)$",
            ])?,
            pet_capital: templates.one(
                r"^(?:my|our) (?:<PETADJ>\s+)*(<ANIMAL>)\s+(<CAP>[\p{L}'-]*)",
            )?,
            family_named: templates.all(&[
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>)(?:'s name is|'s name's| is called| is named| named| called|,)\s+(.+)$",
                r"^(<REL>) (?:của )?<SELF> (?:tên là|tên|có tên là|là)\s+(.+)$",
            ])?,
            family_capital: templates.one(
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>)\s+(<CAP>[\p{L}'-]*)",
            )?,
            family_lives_with: templates.all(&[
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>)\s+(?:also |still |now )?(?:lives|live|is living|stays|stay) with (?:us|me|my family|our family)\b",
                r"^(<REL>) (?:của )?<SELF> (?:cũng |đang )?(?:sống|ở) (?:cùng|với|chung với) (?:<SELF>|nhà <SELF>|gia đình <SELF>|cả nhà)\b",
            ])?,
            family_job: templates.all(&[
                r"^(?:my|our) (?:<FAMADJ>\s+)?(<REL>) (?:is|was|works as) (?:a |an )(.+)$",
                r"^(<REL>) (?:của )?<SELF> (?:là|làm|làm nghề) (?:một )?(?:nghề )?(.+)$",
            ])?,
            family_mention: templates.all(&[
                r"^(?:my|our|me and my|me and) (?:<FAMADJ>\s+)?(<REL>)\b",
                r"^(?:my )?(<REL>) and (?:i|me)\b",
                r"^(<REL>) (?:của )?<SELF>\b",
            ])?,
        })
    }
}

impl RulesExtractor {
    /// Pets and relatives: "I have a cat named Mochi", "Em có một chị gái tên là Hoa",
    /// "My grandma lives with us", "My dog Max …".
    pub(super) fn possessions(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        let text = clause.text;
        let patterns = &self.patterns.possessions;
        if let Some(rest) = patterns
            .have
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            self.possession_list(rest, out);
            return;
        }
        if let Some(rest) = patterns
            .live_with
            .captures(text)
            .and_then(|caps| group(&caps, 1))
        {
            self.possession_list(rest, out);
            return;
        }
        for re in &patterns.pet_named {
            if let Some(caps) = re.captures(text)
                && let (Some(animal), Some(rest)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal))
            {
                for name in self.names(rest).0 {
                    out.push(Finding::assert(format!("pet.{slug}"), name, DIRECT).with_name());
                }
                return;
            }
        }
        if let Some(caps) = patterns.pet_capital.captures(text)
            && let (Some(animal), Some(name)) = (group(&caps, 1), group(&caps, 2))
            && let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal))
            && !self.lexicon.not_names.contains(&fold_case(name))
        {
            out.push(Finding::assert(format!("pet.{slug}"), name, DIRECT).with_name());
            return;
        }
        for re in &patterns.family_named {
            if let Some(caps) = re.captures(text)
                && let (Some(relation), Some(rest)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
            {
                let introduced_by_la = fold_case(&text[..caps.get(2).map_or(0, |m| m.start())])
                    .trim_end()
                    .ends_with(" là");
                // "Mẹ em là Hoa" names her; "Mẹ em là giáo viên" does not.
                if introduced_by_la && !rest.starts_with(|c: char| c.is_uppercase()) {
                    break;
                }
                for name in self.names(rest).0 {
                    out.push(Finding::assert(format!("family.{slug}"), name, DIRECT).with_name());
                }
                return;
            }
        }
        if let Some(caps) = patterns.family_capital.captures(text)
            && let (Some(relation), Some(name)) = (group(&caps, 1), group(&caps, 2))
            && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
            && !self.lexicon.not_names.contains(&fold_case(name))
        {
            out.push(Finding::assert(format!("family.{slug}"), name, DIRECT).with_name());
            return;
        }
        for re in &patterns.family_lives_with {
            if let Some(relation) = re.captures(text).and_then(|caps| group(&caps, 1))
                && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
            {
                out.push(Finding::assert(
                    format!("family.{slug}"),
                    relation.to_lowercase(),
                    DIRECT,
                ));
                return;
            }
        }
        for re in &patterns.family_job {
            if let Some(caps) = re.captures(text)
                && let (Some(relation), Some(rest)) = (group(&caps, 1), group(&caps, 2))
                && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
                && let Some(job) =
                    self.lexicon
                        .jobs
                        .get(&fold_case(cut_at_stops(rest, PLACE_STOPS, true)))
            {
                out.push(
                    Finding::assert(
                        format!("family.{slug}"),
                        format!("{} ({job})", relation.to_lowercase()),
                        DIRECT,
                    )
                    .with_job(job),
                );
                return;
            }
        }
        // Whatever else is said about a relative, the user has one ("My sister loves pink").
        if let Some(relation) = patterns
            .family_mention
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
            && let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation))
        {
            out.push(Finding::assert(
                format!("family.{slug}"),
                relation.to_lowercase(),
                WEAK,
            ));
        }
    }

    /// "a dog called Max and two cats", "một chị gái tên là Hoa và một con mèo".
    pub(super) fn possession_list(&self, list: &str, out: &mut Vec<Finding>) {
        let patterns = &self.patterns.possessions;
        let mut rest = list;
        loop {
            let before = rest.len();
            if let Some(caps) = patterns.pet_item.captures(rest) {
                let end = caps.get(0).map_or(0, |m| m.end());
                let animal = group(&caps, 2).unwrap_or_default();
                let Some(slug) = self.lexicon.animal_of_word.get(&fold_case(animal)) else {
                    return;
                };
                // "two cats", "ba con mèo": the count as typed, up to the animal.
                let counted = match (caps.get(1), caps.get(2)) {
                    (Some(c), Some(a)) => rest[c.start()..a.end()].to_lowercase(),
                    _ => animal.to_lowercase(),
                };
                rest = &rest[end..];
                let (single, names) = self.counted_names(&caps, &mut rest);
                let key = format!("pet.{slug}");
                if names.is_empty() {
                    let value = if single {
                        animal.to_lowercase()
                    } else {
                        counted
                    };
                    out.push(Finding::assert(key, value, DIRECT));
                } else {
                    for name in names {
                        out.push(Finding::assert(key.clone(), name, DIRECT).with_name());
                    }
                }
            } else if let Some(caps) = patterns.family_item.captures(rest) {
                let end = caps.get(0).map_or(0, |m| m.end());
                let relation = group(&caps, 2).unwrap_or_default();
                let Some(slug) = self.lexicon.relation_of_word.get(&fold_case(relation)) else {
                    return;
                };
                let after = &rest[caps.get(2).map_or(end, |m| m.end())..];
                if patterns.not_family_after.is_match(after) {
                    return;
                }
                rest = &rest[end..];
                let count = group(&caps, 1).map(str::to_lowercase);
                let (single, names) = self.counted_names(&caps, &mut rest);
                let key = format!("family.{slug}");
                if names.is_empty() {
                    let value = match (&count, single) {
                        (Some(count), false) => format!("{count} {}", relation.to_lowercase()),
                        _ => relation.to_lowercase(),
                    };
                    out.push(Finding::assert(key, value, DIRECT));
                } else {
                    for name in names {
                        out.push(Finding::assert(key.clone(), name, DIRECT).with_name());
                    }
                }
            } else {
                return;
            }
            match patterns.item_separator.find(rest) {
                Some(sep) => rest = &rest[sep.end()..],
                // "ông bà", "bố mẹ": relatives may follow each other without a separator.
                None if patterns.family_item.is_match(rest) && !rest.trim().is_empty() => {}
                None => return,
            }
            if rest.len() >= before {
                return;
            }
        }
    }
}

impl RulesExtractor {
    /// Whether an item's count (group 1) says one, and the names after it, introduced by
    /// group 3: "hai con mèo là Mun và Miu" names them, "một con mèo là quà sinh nhật" does not.
    fn counted_names(&self, caps: &Captures<'_>, rest: &mut &str) -> (bool, Vec<String>) {
        let single = group(caps, 1).is_none_or(|count| {
            matches!(
                count.to_lowercase().as_str(),
                "a" | "an" | "one" | "my" | "our" | "một"
            )
        });
        let introduced =
            group(caps, 3).is_some_and(|how| how != "là" || rest.starts_with(char::is_uppercase));
        (single, self.item_names(introduced, single, rest))
    }

    /// The names after a pet or relative: introduced ("named Max", "tên là Mun"), or for more
    /// than one set off after a comma ("two dogs, Max and Bella"), where the names are what the
    /// user means and the count is only how many, or right behind ("chị Linh"). Moves `rest`
    /// past the names it takes.
    fn item_names(&self, introduced: bool, single: bool, rest: &mut &str) -> Vec<String> {
        let directly_named = rest.starts_with(|c: char| c.is_uppercase());
        let start = if introduced || directly_named {
            0
        } else if !single && let Some(found) = self.patterns.possessions.appositive.find(rest) {
            found.end()
                - rest[..found.end()]
                    .chars()
                    .next_back()
                    .map_or(0, char::len_utf8)
        } else {
            return Vec::new();
        };
        let (names, used) = self.names(&rest[start..]);
        if !names.is_empty() {
            *rest = &rest[start + used..];
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn pets_with_and_without_names() {
        assert_eq!(says("I have two cats."), ["pet.cat=two cats"]);
        assert_eq!(
            says("We have a dog named Max and a cat called Mochi."),
            ["pet.dog=Max", "pet.cat=Mochi"]
        );
        assert_eq!(says("My dog Lucky is so funny."), ["pet.dog=Lucky"]);
        assert_eq!(
            says("Em nuôi hai con mèo tên là Mun và Mướp."),
            ["pet.cat=Mun", "pet.cat=Mướp"]
        );
        assert_eq!(
            says("I have two dogs, Max and Bella."),
            ["pet.dog=Max", "pet.dog=Bella"]
        );
        assert_eq!(
            says("Em có hai con mèo là Mun và Miu."),
            ["pet.cat=Mun", "pet.cat=Miu"]
        );
        assert_eq!(
            says("I have 2 brothers, Nam and Huy, and a sister called Mai."),
            [
                "family.brother=Nam",
                "family.brother=Huy",
                "family.sister=Mai"
            ]
        );
        assert_eq!(
            says("Em có 2 anh trai là Hùng và Dũng."),
            ["family.brother=Hùng", "family.brother=Dũng"]
        );
        assert_eq!(says("Em có một con mèo là quà sinh nhật."), ["pet.cat=mèo"]);
        // A count alone is all there is to keep; a capital after it starts something else.
        assert_eq!(says("I have two cats, I love them."), ["pet.cat=two cats"]);
    }
}
