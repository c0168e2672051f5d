//! Helpers for the readers' tests: one shared extractor and conversations written compactly.

use pika_domain::{ChatMessage, FactValue, Role};

use super::super::Polarity;
use super::RulesExtractor;

pub(super) fn extractor() -> &'static RulesExtractor {
    static EXTRACTOR: std::sync::LazyLock<RulesExtractor> =
        std::sync::LazyLock::new(RulesExtractor::new);
    &EXTRACTOR
}

pub(super) fn user(text: &str) -> ChatMessage {
    ChatMessage::new(Role::User, text).expect("a valid message")
}

pub(super) fn assistant(text: &str) -> ChatMessage {
    ChatMessage::new(Role::Assistant, text).expect("a valid message")
}

/// `key=value` for asserts, `!key=value` for negations, in order.
pub(super) fn read(messages: &[ChatMessage]) -> Vec<String> {
    extractor()
        .extract_messages(messages)
        .into_iter()
        .map(|c| {
            let sign = if c.polarity == Polarity::Negate {
                "!"
            } else {
                ""
            };
            let value = c.value.as_ref().map_or("-", FactValue::as_str).to_owned();
            format!("{sign}{}={value}", c.key)
        })
        .collect()
}

pub(super) fn says(text: &str) -> Vec<String> {
    read(&[user(text)])
}
