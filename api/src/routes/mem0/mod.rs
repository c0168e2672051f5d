//! Mem0's platform API, so a team using the `mem0ai` client switches by changing its host.
//!
//! The paths are Mem0's own, trailing slash included: its client does not follow redirects.
//! A Mem0 memory is a live fact (`id` the fact id, `memory` its text, `categories` its kind);
//! adding submits an extraction job and, unless the caller asks for `async_mode`, waits for it
//! so a search right after the add finds what it produced (Mem0's own platform does not: mem0ai
//! #2386). Only `user_id` scopes memories here; any other entity or filter is refused with a
//! 400 that says so, rather than silently widening or narrowing what a call touches.

mod memories;

use chrono::{DateTime, Utc};
use pika_domain::UserId;
use pika_projections::fact_record::FactRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::AppState;

/// Mem0's routes beside `/v1`'s, under the same keys, limits and error format.
pub fn router() -> OpenApiRouter<AppState> {
    memories::router()
}

/// What the scope of a call may name: Mem0 also has agents, apps and runs, which PIKA does
/// not keep apart from users.
const SUPPORTED_FILTERS: &str =
    r#"only user_id is supported: {"user_id": "…"} or {"AND": [{"user_id": "…"}]}"#;

/// Entity fields Mem0 accepts at the top level of a body or query, which PIKA would otherwise
/// ignore and so store or delete in the wrong scope.
const OTHER_ENTITIES: [&str; 3] = ["agent_id", "app_id", "run_id"];

/// A memory as Mem0's API shows one.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Mem0Memory {
    id: Uuid,
    memory: String,
    user_id: String,
    /// Always null: PIKA keeps metadata with the conversation, not with each fact.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// The fact's kind (`favorite`, `pet`, …).
    categories: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    /// PIKA's own view of the same memory: its key and value.
    key: String,
    value: String,
}

impl Mem0Memory {
    fn new(fact: FactRecord, score: Option<f64>) -> Self {
        Self {
            id: fact.fact_id,
            memory: fact.text,
            user_id: fact.user_id,
            metadata: None,
            categories: vec![fact.kind],
            created_at: fact.created_at,
            updated_at: fact.updated_at,
            score,
            key: fact.key,
            value: fact.value,
        }
    }
}

impl From<FactRecord> for Mem0Memory {
    fn from(fact: FactRecord) -> Self {
        Self::new(fact, None)
    }
}

/// `{"message": …}`, Mem0's answer to deletions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Mem0Message {
    message: String,
}

impl Mem0Message {
    fn new(message: &str) -> Self {
        Self {
            message: message.to_owned(),
        }
    }
}

/// The user a body's `filters` (or a bare `user_id`) scopes a call to.
fn user_in(filters: Option<&Value>, user_id: Option<&str>) -> Result<UserId, ApiError> {
    let named = match (filters, user_id) {
        (Some(filters), None) => user_in_filters(filters)?,
        (None, Some(user)) => user.to_owned(),
        (Some(filters), Some(user)) if user_in_filters(filters)? == user => user.to_owned(),
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "user_id and filters name different users".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::BadRequest(format!(
                "a user is required: {SUPPORTED_FILTERS}"
            )));
        }
    };
    UserId::parse(&named).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn user_in_filters(filters: &Value) -> Result<String, ApiError> {
    let unsupported = || ApiError::BadRequest(format!("filters: {SUPPORTED_FILTERS}"));
    let object = filters.as_object().ok_or_else(unsupported)?;
    let single = |object: &serde_json::Map<String, Value>| match object.get("user_id") {
        Some(Value::String(user)) if object.len() == 1 => Ok(user.clone()),
        _ => Err(unsupported()),
    };
    match object.get("AND") {
        Some(Value::Array(all)) if object.len() == 1 => {
            let users = all
                .iter()
                .map(|entry| entry.as_object().ok_or_else(unsupported).and_then(single))
                .collect::<Result<Vec<_>, _>>()?;
            match users.split_first() {
                Some((first, rest)) if rest.iter().all(|u| u == first) => Ok(first.clone()),
                _ => Err(unsupported()),
            }
        }
        Some(_) => Err(unsupported()),
        None => single(object),
    }
}

/// Refuses the entity fields PIKA cannot honour (`agent_id`, `app_id`, `run_id`).
fn refuse_other_entities(fields: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    match OTHER_ENTITIES
        .iter()
        .find(|name| fields.get(**name).is_some_and(|v| !v.is_null()))
    {
        Some(name) => Err(ApiError::BadRequest(format!(
            "{name} is not supported: {SUPPORTED_FILTERS}"
        ))),
        None => Ok(()),
    }
}

/// The part of a body every Mem0 call that scopes by user shares.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct Scope {
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_.:@-]{1,128}$")]
    user_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filters: Option<Value>,
    /// Fields of Mem0's API PIKA accepts and ignores (`version`, `output_format`, …); the
    /// entities it cannot honour are refused.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    rest: serde_json::Map<String, Value>,
}

impl Scope {
    fn user(&self) -> Result<UserId, ApiError> {
        refuse_other_entities(&self.rest)?;
        user_in(self.filters.as_ref(), self.user_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_user_is_named_by_filters_or_a_bare_user_id() {
        let user = |filters: Option<Value>, id: Option<&str>| {
            user_in(filters.as_ref(), id).map(|u| u.to_string())
        };
        assert_eq!(user(Some(json!({"user_id": "kid"})), None).unwrap(), "kid");
        assert_eq!(
            user(Some(json!({"AND": [{"user_id": "kid"}]})), None).unwrap(),
            "kid"
        );
        assert_eq!(user(None, Some("kid")).unwrap(), "kid");
        assert_eq!(
            user(Some(json!({"user_id": "kid"})), Some("kid")).unwrap(),
            "kid"
        );
    }

    #[test]
    fn other_filters_are_refused_with_what_is_supported() {
        for filters in [
            json!({"agent_id": "a"}),
            json!({"user_id": "kid", "agent_id": "a"}),
            json!({"OR": [{"user_id": "kid"}]}),
            json!({"AND": [{"user_id": "kid"}, {"user_id": "other"}]}),
            json!({"user_id": {"in": ["kid"]}}),
            json!("kid"),
        ] {
            let error = user_in(Some(&filters), None).expect_err("refused");
            assert!(
                matches!(&error, ApiError::BadRequest(m) if m.contains("only user_id")),
                "{filters}: {error:?}"
            );
        }
        assert!(user_in(None, None).is_err());
        assert!(user_in(Some(&json!({"user_id": "a"})), Some("b")).is_err());
        let scope: Scope =
            serde_json::from_value(json!({"user_id": "kid", "agent_id": "bot"})).unwrap();
        assert!(scope.user().is_err());
        let scope: Scope =
            serde_json::from_value(json!({"user_id": "kid", "version": "v2"})).unwrap();
        assert_eq!(scope.user().unwrap().to_string(), "kid");
    }
}
