//! Who the user is: name, nickname, age, birthday, where they live and their occupation.

use regex::Regex;

use super::RulesExtractor;
use super::findings::{CONTEXTUAL, DIRECT, Finding};
use super::patterns::{Templates, group};
use super::sentences::Clause;
use super::text::{
    bare, cut_at_stops, fold_case, is_capitalised, place_case, starts_with_word, strip_leading,
};
use super::words::{GENERIC_PLACES, PLACE_STOPS};

/// Statements of name, nickname, age, birthday, home and occupation.
#[derive(Debug)]
pub(super) struct IdentityPatterns {
    pub(super) name: Vec<Regex>,
    pub(super) name_i_am: Regex,
    pub(super) name_vi_la: Regex,
    pub(super) nickname: Vec<Regex>,
    pub(super) age: Vec<Regex>,
    pub(super) birthday_en: Regex,
    pub(super) date_en: Regex,
    pub(super) birthday_vi: Regex,
    pub(super) birthday_vi_month: Regex,
    pub(super) location: Vec<Regex>,
    pub(super) occupation: Vec<Regex>,
}

impl IdentityPatterns {
    pub(super) fn build(templates: &Templates<'_>) -> Result<Self, regex::Error> {
        Ok(Self {
            name: templates.all(&[
                r"^my (?:full |real |first )?name(?:'s| is) (.+)$",
                r"^<SELF> (?:tên là|tên gọi là|có tên là|tên)\s+(.+)$",
                r"^tên (?:của )?<SELF> (?:là|gọi là)\s+(.+)$",
            ])?,
            name_i_am: templates.one(r"^<IAM> (?:called |named )?(.+)$")?,
            name_vi_la: templates.one(r"^<SELF> là (<CAP>.*)$")?,
            nickname: templates.all(&[
                r"^(?:you can |u can |please |just )*call me (.+)$",
                r"^(?:everyone|everybody|people|my friends|friends|my family|my classmates|they|we|my <REL>|<REL>)(?: all)?(?: usually| always| often| sometimes| just)? calls? me (.+)$",
                r"^my nick ?name(?:'s| is) (.+)$",
                r"^(?:(?:mọi người|cả nhà|bố mẹ|ba mẹ|bạn bè|các bạn|ở nhà|nhà|bạn|<REL>)\s+){0,2}(?:(?:hay|thường|vẫn|đều|hay là)\s+)*gọi <SELF> là\s+(.+)$",
                r"^biệt danh (?:của )?<SELF> là\s+(.+)$",
                r"^<SELF> có biệt danh là\s+(.+)$",
                r"^tên ở nhà (?:của )?<SELF> là\s+(.+)$",
                r"^<SELF> tên ở nhà là\s+(.+)$",
            ])?,
            age: templates.all(&[
                r"^(?:<IAM>|my age is) (?:now |already |just |only )?(<NUM>)(?:\s+(?:years?|yrs?)(?:\s+old)?|\s+now|\s+already|\s+today|\s+this year|\s+and a half)*(?:$|,?\s+(?:not|but)\b)",
                r"^i (?:just |recently |finally |have |'ve |already )*turned (<NUM>)\b",
                r"^<SELF> (?:(?:năm nay|bây giờ|giờ|đã|được|vừa|mới|tròn|lên|là|đang|thì) )*(<NUM>) tuổi\b",
                r"^tuổi (?:của )?<SELF> (?:là )?(<NUM>)\b",
            ])?,
            birthday_en: templates.one(
                r"^(?:my birthday(?:'s| is)?|i was born)(?: on| in)?(?: the)? (.+)$",
            )?,
            date_en: templates.one(
                r"^(?:(<MONTH>)\.? (\d{1,2})(?:st|nd|rd|th)?|(\d{1,2})(?:st|nd|rd|th)?(?: of)? (<MONTH>)|(\d{1,2})/(\d{1,2})(?:/\d{2,4})?|(<MONTH>))\b",
            )?,
            birthday_vi: templates.one(
                r"^(?:(?:sinh nhật|birthday) (?:của )?<SELF>|<SELF> sinh)(?: là| vào| rơi vào)*(?: ngày)? (\d{1,2})\s*(?:tháng|/|-)\s*(\d{1,2})\b",
            )?,
            birthday_vi_month: templates.one(
                r"^(?:(?:sinh nhật|birthday) (?:của )?<SELF>|<SELF> sinh)(?: là| vào| rơi vào)* tháng (\d{1,2}|<NUM>)\b",
            )?,
            location: templates.all(&[
                r"^(?:i|we|my family) (?:now |still |currently |also |all )?(?:live|lives|am living|are living|'m living|'re living|stay|stays) in (.+)$",
                r"^(?:<IAM>|i come|i came|we're|we are|we come|my family is|my family comes) (?:\p{L}+ )?from (.+)$",
                r"^(?:i|we|my family) (?:(?:just|recently|have|'ve|also) )*moved to (.+)$",
                r"^(?:i|we) (?:(?:also|still|now) )*(?:live|lives|stay|am living) with .+? in (.+)$",
                r"^(?:nhà )?<SELF> (?:(?:cũng|đang|vẫn) )*(?:sống|ở) (?:cùng|với|chung với) .+? (?:ở|tại) (.+)$",
                r"^(?:nhà )?<SELF> (?:(?:mới|vừa|đã|vừa mới) )*(?:chuyển|dọn) (?:nhà )?(?:đến|tới|về|vào|ra) (?:ở |sống ở )?(.+)$",
                r"^my (?:home|house|hometown|home town) is in (.+)$",
                r"^my (?:hometown|home town) is (.+)$",
                r"^(?:nhà )?<SELF> (?:(?:đang|hiện|hiện đang|vẫn|cũng|thì) )*(?:sống|ở|sinh sống) (?:ở |tại )?(.+)$",
                r"^<SELF> (?:đến|tới) từ (.+)$",
                r"^<SELF> là người (.+)$",
                r"^quê (?:của )?<SELF> (?:ở |là )(.+)$",
            ])?,
            occupation: templates.all(&[
                r"^(?:<IAM>|i work as) (?:a |an )(.+)$",
                r"^<SELF> (?:đang )?(?:là|làm) (?:một )?(?:nghề )?(.+)$",
            ])?,
        })
    }
}

impl RulesExtractor {
    pub(super) fn identity(&self, clause: &Clause<'_>, out: &mut Vec<Finding>) {
        let text = clause.text;
        let patterns = &self.patterns.identity;
        let nickname = patterns
            .nickname
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1).and_then(|rest| self.first_name(rest)));
        if let Some(nickname) = nickname {
            out.push(Finding::assert("nickname", nickname, DIRECT));
        } else if let Some(name) = self.name(text) {
            out.push(name);
        }
        self.age(text, out);
        self.birthday(text, out);
        self.location(text, out);
        self.school(text, out);
        for re in &patterns.occupation {
            if let Some(job) = re
                .captures(text)
                .and_then(|caps| group(&caps, 1))
                .map(|rest| cut_at_stops(rest, PLACE_STOPS, true))
                .and_then(|rest| self.lexicon.jobs.get(&fold_case(rest)))
            {
                out.push(Finding::assert("occupation", job.clone(), DIRECT));
                break;
            }
        }
    }

    fn name(&self, text: &str) -> Option<Finding> {
        let patterns = &self.patterns.identity;
        if let Some(rest) = patterns
            .name
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        {
            return self
                .first_name(rest)
                .map(|name| Finding::assert("name", name, DIRECT));
        }
        let rest = patterns
            .name_i_am
            .captures(text)
            .or_else(|| patterns.name_vi_la.captures(text))
            .and_then(|caps| group(&caps, 1))?;
        let first = bare(rest.split_whitespace().next()?);
        let is_name = is_capitalised(first)
            && !first.ends_with("'s")
            && !self.lexicon.not_names.contains(&fold_case(first))
            && !self.lexicon.is_known_word(first)
            && !self.lexicon.jobs.contains_key(&fold_case(first));
        if !is_name {
            return None;
        }
        let name = self.first_name(rest)?;
        Some(Finding::assert("name", name, CONTEXTUAL))
    }

    fn age(&self, text: &str, out: &mut Vec<Finding>) {
        let age = self
            .patterns
            .identity
            .age
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1).and_then(|n| self.lexicon.number(n)));
        if let Some(age) = age.filter(|a| (1..=120).contains(a)) {
            out.push(Finding::assert("age", age.to_string(), DIRECT));
        }
    }

    fn birthday(&self, text: &str, out: &mut Vec<Finding>) {
        let patterns = &self.patterns.identity;
        if let Some(rest) = patterns
            .birthday_en
            .captures(text)
            .and_then(|c| group(&c, 1))
        {
            if let Some(date) = self.english_date(rest) {
                out.push(Finding::assert("birthday", date, DIRECT));
            }
            return;
        }
        if let Some(caps) = patterns.birthday_vi.captures(text) {
            let day = group(&caps, 1).and_then(|d| d.parse::<u32>().ok());
            let month = group(&caps, 2).and_then(|m| m.parse::<u32>().ok());
            if let (Some(day), Some(month)) = (day, month)
                && (1..=31).contains(&day)
                && (1..=12).contains(&month)
            {
                out.push(Finding::assert(
                    "birthday",
                    format!("ngày {day} tháng {month}"),
                    DIRECT,
                ));
            }
            return;
        }
        if let Some(month) = patterns
            .birthday_vi_month
            .captures(text)
            .and_then(|c| group(&c, 1).and_then(|m| self.lexicon.number(m)))
            .filter(|m| (1..=12).contains(m))
        {
            out.push(Finding::assert(
                "birthday",
                format!("tháng {month}"),
                DIRECT,
            ));
        }
    }

    /// "March 5th", "the 5th of March", "5/3" → "March 5"; a month alone stays a month.
    fn english_date(&self, text: &str) -> Option<String> {
        let caps = self.patterns.identity.date_en.captures(text)?;
        let day_month = |day: &str, month: &str| -> Option<String> {
            let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
            Some(format!("{} {day}", self.lexicon.month(month)?))
        };
        if let (Some(month), Some(day)) = (group(&caps, 1), group(&caps, 2)) {
            return day_month(day, month);
        }
        if let (Some(day), Some(month)) = (group(&caps, 3), group(&caps, 4)) {
            return day_month(day, month);
        }
        if let (Some(day), Some(month)) = (group(&caps, 5), group(&caps, 6)) {
            let month: usize = month.parse().ok().filter(|m| (1..=12).contains(m))?;
            let name = self.lexicon.months.get(month - 1)?;
            return day_month(day, name);
        }
        group(&caps, 7).and_then(|m| self.lexicon.month(m).map(str::to_owned))
    }

    fn location(&self, text: &str, out: &mut Vec<Finding>) {
        let Some(rest) = self
            .patterns
            .identity
            .location
            .iter()
            .find_map(|re| re.captures(text))
            .and_then(|caps| group(&caps, 1))
        else {
            return;
        };
        if let Some(place) = self.place(rest) {
            out.push(Finding::assert("location", place, DIRECT));
        }
    }

    /// A named place: not "a house", "home" or "nhà".
    pub(super) fn place(&self, rest: &str) -> Option<String> {
        let place = cut_at_stops(rest, PLACE_STOPS, true);
        let place = strip_leading(place, &["the"]);
        let lower = fold_case(place);
        let words = lower.split(' ').count();
        let named = place.split_whitespace().skip(1).any(is_capitalised);
        if place.is_empty()
            || words > 6
            || (starts_with_word(&lower, GENERIC_PLACES) && !named)
            || GENERIC_PLACES.contains(&lower.as_str())
            || !place.chars().next().is_some_and(char::is_alphabetic)
        {
            return None;
        }
        Some(place_case(place))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn vietnamese_identity() {
        assert_eq!(says("Tên em là Lan."), ["name=Lan"]);
        assert_eq!(says("Em 10 tuổi."), ["age=10"]);
        assert_eq!(says("Năm nay con tám tuổi rồi."), ["age=8"]);
        assert_eq!(
            says("Sinh nhật của em là ngày 5 tháng 3."),
            ["birthday=ngày 5 tháng 3"]
        );
        assert_eq!(says("Nhà em ở Đà Nẵng."), ["location=Đà Nẵng"]);
    }
}
