//! Turning a finding into a `Candidate`: a valid key and value, and a sentence stating the fact
//! in the conversation's language.

use std::collections::HashMap;

use pika_domain::{Confidence, FactKey, FactText, FactValue, Language};

use super::super::{Candidate, Polarity};
use super::RulesExtractor;
use super::findings::{Finding, Shape};
use super::language::Lang;
use super::lexicon::Label;
use super::text::title_case_word;

impl RulesExtractor {
    pub(super) fn candidate(
        &self,
        finding: Finding,
        lang: Lang,
        message_indexes: Vec<u32>,
    ) -> Option<Candidate> {
        let key = FactKey::parse(&finding.key)
            .or_else(|_| {
                let family = finding.key.split('.').next().unwrap_or_default();
                FactKey::parse(&format!("{family}.thing"))
            })
            .ok()?;
        let value = match &finding.value {
            Some(value) => Some(FactValue::parse(value).ok()?),
            None => None,
        };
        let sentence = self.describe(&key, value.as_ref().map(FactValue::as_str), &finding, lang);
        Some(Candidate {
            text: FactText::parse(&sentence).ok()?,
            confidence: Confidence::new(finding.confidence).ok()?,
            language: Language::parse(lang.tag()).ok()?,
            polarity: finding.polarity,
            key,
            value,
            message_indexes,
        })
    }

    /// A readable sentence stating the fact in the conversation's language.
    fn describe(
        &self,
        key: &FactKey,
        value: Option<&str>,
        finding: &Finding,
        lang: Lang,
    ) -> String {
        let topic = key.topic();
        let label = |labels: &HashMap<String, Label>| {
            labels
                .get(topic)
                .map_or_else(|| topic.replace('_', " "), |l| l.get(lang).to_owned())
        };
        let relation = label(&self.lexicon.relation_labels);
        let animal = label(&self.lexicon.animal_labels);
        let v = value.unwrap_or_default();
        // "two cats", "hai anh trai": a counted value says itself.
        let counted = v.split_whitespace().count() > 1;
        let assertion = match (key.family(), &finding.shape, lang) {
            ("name", _, Lang::En) => format!("Name is {v}"),
            ("name", _, Lang::Vi) => format!("Tên là {v}"),
            ("nickname", _, Lang::En) => format!("Nickname is {v}"),
            ("nickname", _, Lang::Vi) => format!("Biệt danh là {v}"),
            ("age", _, Lang::En) => format!("Is {v} years old"),
            ("age", _, Lang::Vi) => format!("{v} tuổi"),
            ("birthday", _, Lang::En) => format!("Birthday is {v}"),
            ("birthday", _, Lang::Vi) => format!("Sinh nhật vào {v}"),
            ("location", _, Lang::En) => format!("Lives in {v}"),
            ("location", _, Lang::Vi) => format!("Sống ở {v}"),
            ("school", _, Lang::En) if topic == "grade" => format!("Is in grade {v}"),
            ("school", _, Lang::Vi) if topic == "grade" => format!("Học lớp {v}"),
            ("school", _, Lang::En) => format!("Goes to {v}"),
            ("school", _, Lang::Vi) => format!("Học ở trường {v}"),
            ("occupation", _, Lang::En) => format!("Occupation: {v}"),
            ("occupation", _, Lang::Vi) => format!("Làm nghề {v}"),
            ("favorite", _, Lang::En) => {
                format!("Favourite {} is {v}", self.lexicon.topic_label(topic, lang))
            }
            ("favorite", _, Lang::Vi) => format!(
                "{} yêu thích là {v}",
                title_case_word(&self.lexicon.topic_label(topic, lang))
            ),
            ("likes", _, Lang::En) => format!("Likes {v}"),
            ("likes", _, Lang::Vi) => format!("Thích {v}"),
            ("dislikes", _, Lang::En) => format!("Does not like {v}"),
            ("dislikes", _, Lang::Vi) => format!("Không thích {v}"),
            ("family", Shape::Named, Lang::En) => format!("Has a {relation} named {v}"),
            ("family", Shape::Named, Lang::Vi) => format!("Có {relation} tên là {v}"),
            ("family", Shape::Job(job), Lang::En) => {
                format!("{} is a {job}", title_case_word(&relation))
            }
            ("family", Shape::Job(job), Lang::Vi) => {
                format!("{} là {job}", title_case_word(&relation))
            }
            ("family", _, Lang::En) if counted => format!("Has {v}"),
            ("family", _, Lang::Vi) if counted => format!("Có {v}"),
            ("family", _, Lang::En) => format!("Has a {relation}"),
            ("family", _, Lang::Vi) => format!("Có {relation}"),
            ("pet", _, Lang::En) if topic.is_empty() => "Has a pet".to_owned(),
            ("pet", _, Lang::Vi) if topic.is_empty() => "Có thú cưng".to_owned(),
            ("pet", Shape::Named, Lang::En) => format!("Has a pet {animal} named {v}"),
            ("pet", Shape::Named, Lang::Vi) => format!("Có con {animal} tên là {v}"),
            ("pet", _, Lang::En) if counted => format!("Has {v}"),
            ("pet", _, Lang::En) => format!("Has a pet {v}"),
            ("pet", _, Lang::Vi) => format!("Nuôi {v}"),
            ("health", _, Lang::En) if topic == "allergy" => format!("Is allergic to {v}"),
            ("health", _, Lang::Vi) if topic == "allergy" => format!("Bị dị ứng {v}"),
            ("health", _, Lang::En) => format!("Diet: {v}"),
            ("health", _, Lang::Vi) => format!("Chế độ ăn: {v}"),
            ("goal", _, Lang::En) => format!("Dream job: {v}"),
            ("goal", _, Lang::Vi) => format!("Ước mơ làm {v}"),
            (_, _, Lang::En) | (_, _, Lang::Vi) => format!("{key}: {v}"),
        };
        if finding.polarity == Polarity::Assert {
            return assertion;
        }
        match (key.family(), value, lang) {
            ("pet", None, Lang::En) if topic.is_empty() => "No longer has a pet".to_owned(),
            ("pet", None, Lang::Vi) if topic.is_empty() => "Không còn nuôi thú cưng".to_owned(),
            ("pet", None, Lang::En) => format!("No longer has a pet {animal}"),
            ("pet", None, Lang::Vi) => format!("Không còn nuôi {animal}"),
            ("pet", Some(name), Lang::En) => format!("No longer has the pet {name}"),
            ("pet", Some(name), Lang::Vi) => format!("Không còn nuôi {name}"),
            ("likes", Some(thing), Lang::En) => format!("No longer likes {thing}"),
            ("likes", Some(thing), Lang::Vi) => format!("Không còn thích {thing} nữa"),
            (_, _, Lang::En) => format!("No longer true: {assertion}"),
            (_, _, Lang::Vi) => format!("Không còn đúng: {assertion}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use pika_domain::FactValue;

    #[test]
    fn candidates_carry_text_language_and_message_index() {
        let candidates = extractor().extract_messages(&[
            assistant("Chào con!"),
            user("Màu yêu thích của em là màu xanh dương."),
        ]);
        assert_eq!(candidates.len(), 1);
        let c = &candidates[0];
        assert_eq!(c.key.as_str(), "favorite.color");
        assert_eq!(c.value.as_ref().map(FactValue::as_str), Some("xanh dương"));
        assert_eq!(c.text.as_str(), "Màu yêu thích là xanh dương");
        assert_eq!(c.language.as_str(), "vi");
        assert_eq!(c.message_indexes, [1]);
        let english = extractor().extract_messages(&[user("My favorite color is blue.")]);
        assert_eq!(english[0].text.as_str(), "Favourite colour is blue");
        assert_eq!(english[0].language.as_str(), "en");
    }
}
