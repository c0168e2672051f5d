//! Extraction by any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM) answering in JSON.
//!
//! The model is asked for facts in the same schema the rules extractor produces, in the user's
//! own language. A timeout, a 429 or a 5xx is transient (the worker retries the job later); an
//! answer that is not the JSON asked for is permanent (the job fails with the reason).

use async_trait::async_trait;
use pika_domain::{Confidence, Conversation, FactKey, FactText, FactValue, Language, Role};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::{Candidate, ExtractionError, Extractor, Polarity};
use crate::RemoteEndpoint;

const INSTRUCTIONS: &str = r#"You extract long-term facts about the USER from a conversation between a child (or a family member) and an assistant.
Only facts the user states about themself: never the assistant's words, questions, hypotheticals, or other people's preferences.
Keys (dotted, lower case): name, nickname, age, birthday, location, school, school.grade, occupation, goal.dream_job,
favorite.<topic>, likes.<topic>, dislikes.<topic>, family.<relation>, pet.<animal>, health.allergy, health.diet.
Topics: food, color, animal, sport, activity, subject, music, book, movie, game, toy, thing.
Keep values in the user's own words and spelling: Vietnamese stays Vietnamese with its diacritics, and Vietnamese typed without diacritics ("minh ten la Bao") keeps the user's spelling; English words in a Vietnamese sentence stay as typed.
When the user says something is no longer true ("not anymore", "used to", "không ... nữa", "hồi trước"), emit it with "polarity": "negate".
A correction or change later in the conversation ("no wait", "actually", "now I like X better", "à không", "giờ ... hơn") replaces the earlier value: emit only the new one for single-valued keys (name, age, birthday, location, school, school.grade, favorite.*).
A list gives one fact per item: "two dogs, Max and Bella" is pet.dog=Max and pet.dog=Bella. A reason before or after a claim ("I can't drink milk, I'm allergic") still states the claim.
Answer with JSON only: {"facts": [{"key": "...", "value": "...", "text": "a short sentence stating the fact", "confidence": 0.0-1.0, "language": "en"|"vi", "polarity": "assert"|"negate", "message_indexes": [0]}]}"#;

/// Extracts facts with a chat model.
#[derive(Debug, Clone)]
pub struct LlmExtractor {
    client: reqwest::Client,
    endpoint: RemoteEndpoint,
}

#[derive(Debug, Deserialize)]
struct ChatCompletion {
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Debug, Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FactsAnswer {
    facts: Vec<AnsweredFact>,
}

#[derive(Debug, Deserialize)]
struct AnsweredFact {
    key: String,
    value: Option<String>,
    text: Option<String>,
    confidence: Option<f64>,
    language: Option<String>,
    polarity: Option<String>,
    #[serde(default)]
    message_indexes: Vec<u32>,
}

impl LlmExtractor {
    pub fn new(endpoint: RemoteEndpoint) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, endpoint })
    }

    fn request_body(&self, conversation: &Conversation) -> serde_json::Value {
        let transcript: Vec<serde_json::Value> = conversation
            .messages()
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                };
                json!({"index": index, "role": role, "content": m.content})
            })
            .collect();
        json!({
            "model": self.endpoint.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": json!({"conversation": transcript}).to_string()},
            ],
        })
    }
}

/// Turns one answered fact into a candidate; a fact the domain refuses (a bad key, an empty
/// value) is dropped rather than failing the job, since the rest may be good.
fn candidate(fact: AnsweredFact, conversation: &Conversation) -> Option<Candidate> {
    let key = FactKey::parse(&fact.key.to_lowercase()).ok()?;
    let polarity = match fact.polarity.as_deref() {
        Some("negate") => Polarity::Negate,
        _ => Polarity::Assert,
    };
    let value = match fact.value.as_deref().map(FactValue::parse) {
        Some(Ok(value)) => Some(value),
        _ if polarity == Polarity::Negate => None,
        _ => return None,
    };
    let fallback_text = value
        .as_ref()
        .map_or_else(|| key.to_string(), |v| format!("{key}: {v}"));
    let text = FactText::parse(fact.text.as_deref().unwrap_or(&fallback_text))
        .or_else(|_| FactText::parse(&fallback_text))
        .ok()?;
    let count = u32::try_from(conversation.messages().len()).unwrap_or(u32::MAX);
    Some(Candidate {
        key,
        value,
        text,
        confidence: Confidence::new(fact.confidence.unwrap_or(0.8).clamp(0.0, 1.0)).ok()?,
        language: fact
            .language
            .as_deref()
            .and_then(|l| Language::parse(l).ok())
            .unwrap_or_else(|| Language::parse("en").expect("constant language tag")),
        polarity,
        message_indexes: fact
            .message_indexes
            .into_iter()
            .filter(|i| *i < count)
            .collect(),
    })
}

#[async_trait]
impl Extractor for LlmExtractor {
    async fn extract(
        &self,
        conversation: &Conversation,
    ) -> Result<Vec<Candidate>, ExtractionError> {
        let url = format!("{}/chat/completions", self.endpoint.base_url);
        let mut request = self
            .client
            .post(&url)
            .json(&self.request_body(conversation));
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                ExtractionError::Transient(format!(
                    "LLM timed out after {:?}",
                    self.endpoint.timeout
                ))
            } else {
                ExtractionError::Transient(format!("LLM unreachable: {e}"))
            }
        })?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(ExtractionError::Transient(format!("LLM answered {status}")));
        }
        if !status.is_success() {
            return Err(ExtractionError::Permanent(format!(
                "LLM refused the request: {status}"
            )));
        }
        let completion: ChatCompletion = response.json().await.map_err(|e| {
            if e.is_timeout() {
                ExtractionError::Transient("LLM timed out while answering".into())
            } else {
                ExtractionError::Permanent(format!("LLM answer is not a chat completion: {e}"))
            }
        })?;
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| ExtractionError::Permanent("LLM answer has no content".into()))?;
        let answer: FactsAnswer = serde_json::from_str(content.trim()).map_err(|e| {
            ExtractionError::Permanent(format!("LLM answer is not the JSON asked for: {e}"))
        })?;
        Ok(answer
            .facts
            .into_iter()
            .filter_map(|fact| candidate(fact, conversation))
            .collect())
    }
}
