//! Typed configuration from `PIKA_*` environment variables and an optional TOML file.
//!
//! The file uses the same names without the prefix, in lower case (`http_addr = "…"`); the
//! environment wins over the file. Every value is checked once here and a bad one stops the
//! start with a message that names the setting and where it came from.

mod values;
use values::{parse_api_keys, parse_bool, parse_prefix, parse_retention, scalar_text};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pika_domain::TenantId;
use secrecy::{ExposeSecret, SecretString};

/// Every setting the service reads, with its default and meaning; the README's table and
/// `.env.example` are written from the same list.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "PIKA_CONFIG",
        "",
        "Optional TOML file with the settings below (lower case, no prefix).",
    ),
    (
        "PIKA_HTTP_ADDR",
        "127.0.0.1:8080",
        "Address the HTTP API listens on.",
    ),
    (
        "PIKA_DATABASE_URL",
        "",
        "Postgres URL. Unset: embedded mode (SQLite under PIKA_DATA_DIR).",
    ),
    ("PIKA_DATABASE_MAX_CONNECTIONS", "16", "Postgres pool size."),
    (
        "PIKA_REDIS_URL",
        "",
        "Redis URL for the shared caches. Unset: caches stay in process.",
    ),
    (
        "PIKA_REDIS_PREFIX",
        "pika",
        "Prefix of every Redis key, so several deployments can share one Redis.",
    ),
    (
        "PIKA_AMQP_URL",
        "",
        "RabbitMQ URL for extraction jobs; needed with PIKA_DATABASE_URL (an api-only process may leave it unset). The embedded mode (no PIKA_DATABASE_URL) keeps its job queue in its SQLite file.",
    ),
    (
        "PIKA_AMQP_QUEUE_PREFIX",
        "pika",
        "Prefix of every queue and exchange name.",
    ),
    (
        "PIKA_DATA_DIR",
        "./data",
        "Where embedded mode keeps its files.",
    ),
    (
        "PIKA_MASTER_KEY",
        "",
        "32 bytes as base64 or hex that wrap every user's data key (personal data in the log is sealed with those). Needed with PIKA_DATABASE_URL unless PIKA_MASTER_KEY_FILE is set; the embedded mode creates PIKA_DATA_DIR/master.key (mode 0600) on first start. Keep it out of backups of the database: without it nothing personal can be read.",
    ),
    (
        "PIKA_MASTER_KEY_FILE",
        "",
        "File holding the master key (as PIKA_MASTER_KEY), read at start.",
    ),
    (
        "PIKA_API_KEYS",
        "",
        "Comma-separated tenant:secret pairs bootstrapped as API keys.",
    ),
    (
        "PIKA_ALLOW_UNAUTHENTICATED",
        "false",
        "true lets the server start with no API key, for local development only.",
    ),
    (
        "PIKA_EMBEDDER",
        "local",
        "local (a model in process, see PIKA_EMBEDDING_MODEL) or openai (an OpenAI-compatible endpoint).",
    ),
    (
        "PIKA_EMBEDDING_MODEL",
        "multilingual-e5-small",
        "With PIKA_EMBEDDER=local: multilingual-e5-small (Vietnamese and English, ONNX Runtime) or all-MiniLM-L6-v2 (English only, candle).",
    ),
    (
        "PIKA_MODEL_DIR",
        "./models/<PIKA_EMBEDDING_MODEL>",
        "Folder of the local model: model.onnx and tokenizer.json (e5), or model.safetensors, tokenizer.json and config.json (MiniLM).",
    ),
    (
        "PIKA_ONNXRUNTIME_LIBRARY",
        "./models/onnxruntime/libonnxruntime.so",
        "ONNX Runtime shared library (from the onnxruntime PyPI wheel; scripts/fetch-model.sh puts it there).",
    ),
    (
        "PIKA_EMBEDDINGS_BASE_URL",
        "",
        "OpenAI-compatible embeddings endpoint base URL (with PIKA_EMBEDDER=openai).",
    ),
    (
        "PIKA_EMBEDDINGS_MODEL",
        "",
        "Embedding model name (with PIKA_EMBEDDER=openai).",
    ),
    (
        "PIKA_EMBEDDINGS_API_KEY",
        "",
        "Bearer token for the embeddings endpoint.",
    ),
    (
        "PIKA_EXTRACTOR",
        "rules",
        "rules (offline, English and Vietnamese) or llm (an OpenAI-compatible chat endpoint).",
    ),
    (
        "PIKA_LLM_BASE_URL",
        "",
        "OpenAI-compatible chat endpoint base URL (with PIKA_EXTRACTOR=llm).",
    ),
    (
        "PIKA_LLM_MODEL",
        "",
        "Chat model name (with PIKA_EXTRACTOR=llm).",
    ),
    (
        "PIKA_LLM_API_KEY",
        "",
        "Bearer token for the chat endpoint.",
    ),
    (
        "PIKA_LLM_TIMEOUT_SECS",
        "30",
        "How long one LLM call may take before it is retried.",
    ),
    (
        "PIKA_JOB_REDISPATCH_AFTER_SECS",
        "600",
        "Scaled out: a job still queued or running this long after its last start (or its submission), while nothing waits on the work queue, is published again (a lost message); 1 to 86400.",
    ),
    (
        "PIKA_CONVERSATION_RETENTION",
        "",
        "How long submitted conversations are kept, per tenant: tenant:days pairs, comma-separated, with *:days for every other tenant (like *:365,school-a:30). Older conversations are shredded (their keys destroyed, their turns deleted) by the worker every hour; facts stay. Unset: kept until the user is forgotten.",
    ),
    (
        "PIKA_RATE_LIMIT",
        "",
        "Requests per tenant (all its keys together), like 100/s or 6000/min, with a burst of one period's worth; over it: 429 with Retry-After. Unset: no limit.",
    ),
    (
        "PIKA_TENANT_RATE_LIMITS",
        "",
        "Per-tenant rates instead of PIKA_RATE_LIMIT, like acme=50/s,beta=6000/min.",
    ),
    (
        "PIKA_TENANT_MAX_IN_FLIGHT",
        "",
        "Requests one tenant may have in progress at once; more: 429 with Retry-After. Unset: no limit.",
    ),
    (
        "PIKA_WORKER_CONCURRENCY",
        "64",
        "Extraction jobs one process runs at once (1 to 1024); one user's jobs still apply in the order they were submitted.",
    ),
    ("PIKA_LOG_FORMAT", "json", "json or text."),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting}: {message}")]
    Invalid { setting: String, message: String },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedderKind {
    Local,
    OpenAi,
}

/// The model `PIKA_EMBEDDER=local` runs. The multilingual one is the default: PIKA's users speak
/// Vietnamese, and it is also the faster of the two here (ONNX Runtime, int8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalModel {
    MultilingualE5Small,
    MiniLmL6,
}

impl LocalModel {
    pub fn name(self) -> &'static str {
        match self {
            Self::MultilingualE5Small => "multilingual-e5-small",
            Self::MiniLmL6 => "all-MiniLM-L6-v2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractorKind {
    Rules,
    Llm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// An API key given in configuration, hashed and stored at start.
#[derive(Debug, Clone)]
pub struct ApiKeySeed {
    pub tenant: TenantId,
    pub secret: SecretString,
}

/// An OpenAI-compatible HTTP endpoint.
#[derive(Debug, Clone)]
pub struct RemoteModel {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
}

impl RemoteModel {
    /// The worker's view of it: the same endpoint, for the LLM extractor or the embedder.
    fn endpoint(&self) -> pika_worker::RemoteEndpoint {
        pika_worker::RemoteEndpoint {
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            api_key: self.api_key.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    pub redis_url: Option<SecretString>,
    pub redis_prefix: String,
    pub amqp_url: Option<SecretString>,
    pub amqp_queue_prefix: String,
    pub data_dir: PathBuf,
    /// Checked at parse time, kept wrapped until the key store is built.
    pub master_key: Option<SecretString>,
    pub master_key_file: Option<PathBuf>,
    pub api_keys: Vec<ApiKeySeed>,
    pub allow_unauthenticated: bool,
    pub embedder: EmbedderKind,
    pub local_model: LocalModel,
    pub model_dir: PathBuf,
    pub onnxruntime_library: PathBuf,
    pub embeddings_endpoint: Option<RemoteModel>,
    pub extractor: ExtractorKind,
    pub llm_endpoint: Option<RemoteModel>,
    pub worker_concurrency: u16,
    pub rate_limits: crate::rate_limit::RateLimits,
    pub job_redispatch_after: Duration,
    pub conversation_retention: Vec<pika_projections::data_keys::Retention>,
    pub log_format: LogFormat,
}

/// Where a raw setting came from, for error messages.
struct Raw {
    value: String,
    origin: String,
}

struct Settings {
    values: HashMap<&'static str, Raw>,
}

impl Settings {
    fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        if let Some(path) = file {
            let file_error = |message: String| ConfigError::File {
                path: path.to_owned(),
                message,
            };
            let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
            for (key, value) in table {
                let Some((name, _, _)) = SETTINGS
                    .iter()
                    .find(|(name, _, _)| name.strip_prefix("PIKA_") == Some(&key.to_uppercase()))
                else {
                    return Err(file_error(format!("unknown setting {key:?}")));
                };
                let value = match value {
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|item| scalar_text(item, &key))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(file_error)?
                        .join(","),
                    other => scalar_text(&other, &key).map_err(file_error)?,
                };
                let origin = format!("{key} in {}", path.display());
                values.insert(*name, Raw { value, origin });
            }
        }
        for (name, _, _) in SETTINGS {
            if let Some(value) = env(name) {
                let origin = format!("environment variable {name}");
                values.insert(*name, Raw { value, origin });
            }
        }
        Ok(Self { values })
    }

    /// The value of a setting, `None` when unset or empty.
    fn get(&self, name: &str) -> Option<&Raw> {
        self.values
            .get(name)
            .filter(|raw| !raw.value.trim().is_empty())
    }

    fn parse<T>(
        &self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => parse(raw.value.trim()).map_err(|message| ConfigError::Invalid {
                setting: raw.origin.clone(),
                message,
            }),
        }
    }

    fn string(&self, name: &'static str) -> Option<String> {
        self.get(name).map(|raw| raw.value.trim().to_owned())
    }

    fn url(
        &self,
        name: &'static str,
        schemes: &[&str],
    ) -> Result<Option<SecretString>, ConfigError> {
        self.parse(name, None, |value| {
            let scheme = value.split_once("://").map(|(scheme, _)| scheme);
            match scheme {
                Some(scheme) if schemes.contains(&scheme) => Ok(Some(SecretString::from(value))),
                _ => Err(format!(
                    "expected a URL starting with {}://",
                    schemes.join("://, ")
                )),
            }
        })
    }

    fn remote_model(
        &self,
        prefix: &'static str,
        base_url_setting: &'static str,
        model: &'static str,
        api_key: &'static str,
        timeout: Duration,
    ) -> Result<RemoteModel, ConfigError> {
        let missing = |name: &str| ConfigError::Invalid {
            setting: format!("environment variable {name}"),
            message: format!("required when {prefix}"),
        };
        let base_url = self.parse(base_url_setting, None, |value| {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(Some(value.trim_end_matches('/').to_owned()))
            } else {
                Err("expected an http:// or https:// URL".into())
            }
        })?;
        Ok(RemoteModel {
            base_url: base_url.ok_or_else(|| missing(base_url_setting))?,
            model: self.string(model).ok_or_else(|| missing(model))?,
            api_key: self.string(api_key).map(SecretString::from),
            timeout,
        })
    }
}

impl Config {
    /// Reads the process environment and, when `file` is given (or `PIKA_CONFIG` names one),
    /// that TOML file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let from_env = std::env::var("PIKA_CONFIG").ok().map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(from_env);
        Self::from_sources(file.as_deref(), &|name| std::env::var(name).ok())
    }

    /// The same as `load`, with the environment given as a function so tests need not touch
    /// the process environment.
    pub fn from_sources(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let s = Settings::load(file, env)?;
        let http_addr = s.parse(
            "PIKA_HTTP_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            |v| {
                v.parse()
                    .map_err(|_| format!("{v:?} is not an address like 127.0.0.1:8080"))
            },
        )?;
        let database_max_connections = s.parse("PIKA_DATABASE_MAX_CONNECTIONS", 16, |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| format!("{v:?} is not a number from 1 to 1000"))
        })?;
        let embedder = s.parse("PIKA_EMBEDDER", EmbedderKind::Local, |v| match v {
            "local" => Ok(EmbedderKind::Local),
            "openai" => Ok(EmbedderKind::OpenAi),
            _ => Err(format!("{v:?} is not local or openai")),
        })?;
        let local_model = s.parse(
            "PIKA_EMBEDDING_MODEL",
            LocalModel::MultilingualE5Small,
            |v| match v {
                "multilingual-e5-small" => Ok(LocalModel::MultilingualE5Small),
                "all-MiniLM-L6-v2" => Ok(LocalModel::MiniLmL6),
                _ => Err(format!(
                    "{v:?} is not multilingual-e5-small or all-MiniLM-L6-v2"
                )),
            },
        )?;
        let extractor = s.parse("PIKA_EXTRACTOR", ExtractorKind::Rules, |v| match v {
            "rules" => Ok(ExtractorKind::Rules),
            "llm" => Ok(ExtractorKind::Llm),
            _ => Err(format!("{v:?} is not rules or llm")),
        })?;
        let llm_timeout = s.parse("PIKA_LLM_TIMEOUT_SECS", Duration::from_secs(30), |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=600).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{v:?} is not a number of seconds from 1 to 600"))
        })?;
        let embeddings_endpoint = match embedder {
            EmbedderKind::OpenAi => Some(s.remote_model(
                "PIKA_EMBEDDER=openai",
                "PIKA_EMBEDDINGS_BASE_URL",
                "PIKA_EMBEDDINGS_MODEL",
                "PIKA_EMBEDDINGS_API_KEY",
                llm_timeout,
            )?),
            EmbedderKind::Local => None,
        };
        let llm_endpoint = match extractor {
            ExtractorKind::Llm => Some(s.remote_model(
                "PIKA_EXTRACTOR=llm",
                "PIKA_LLM_BASE_URL",
                "PIKA_LLM_MODEL",
                "PIKA_LLM_API_KEY",
                llm_timeout,
            )?),
            ExtractorKind::Rules => None,
        };
        Ok(Self {
            http_addr,
            database_url: s.url("PIKA_DATABASE_URL", &["postgres", "postgresql"])?,
            database_max_connections,
            redis_url: s.url("PIKA_REDIS_URL", &["redis", "rediss", "redis+unix", "unix"])?,
            redis_prefix: s.parse("PIKA_REDIS_PREFIX", "pika".to_owned(), parse_prefix)?,
            amqp_url: s.url("PIKA_AMQP_URL", &["amqp", "amqps"])?,
            amqp_queue_prefix: s.parse(
                "PIKA_AMQP_QUEUE_PREFIX",
                "pika".to_owned(),
                parse_prefix,
            )?,
            data_dir: s
                .string("PIKA_DATA_DIR")
                .map_or_else(|| PathBuf::from("./data"), PathBuf::from),
            master_key: s.parse("PIKA_MASTER_KEY", None, |value| {
                pika_domain::MasterKey::parse(value)
                    .map(|_| Some(SecretString::from(value)))
                    .map_err(|e| format!("expected 32 bytes as base64 or hex ({e})"))
            })?,
            master_key_file: s.string("PIKA_MASTER_KEY_FILE").map(PathBuf::from),
            api_keys: s.parse("PIKA_API_KEYS", Vec::new(), parse_api_keys)?,
            allow_unauthenticated: s.parse("PIKA_ALLOW_UNAUTHENTICATED", false, parse_bool)?,
            embedder,
            local_model,
            model_dir: s.string("PIKA_MODEL_DIR").map_or_else(
                || PathBuf::from("./models").join(local_model.name()),
                PathBuf::from,
            ),
            onnxruntime_library: s.string("PIKA_ONNXRUNTIME_LIBRARY").map_or_else(
                || PathBuf::from("./models/onnxruntime/libonnxruntime.so"),
                PathBuf::from,
            ),
            embeddings_endpoint,
            extractor,
            llm_endpoint,
            conversation_retention: s.parse(
                "PIKA_CONVERSATION_RETENTION",
                Vec::new(),
                parse_retention,
            )?,
            job_redispatch_after: s.parse(
                "PIKA_JOB_REDISPATCH_AFTER_SECS",
                Duration::from_secs(600),
                |v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| (1..=86_400).contains(n))
                        .map(Duration::from_secs)
                        .ok_or_else(|| format!("{v:?} is not a number of seconds from 1 to 86400"))
                },
            )?,
            rate_limits: crate::rate_limit::RateLimits {
                rate: s.parse("PIKA_RATE_LIMIT", None, |v| {
                    crate::rate_limit::Rate::parse(v).map(Some)
                })?,
                per_tenant: s.parse(
                    "PIKA_TENANT_RATE_LIMITS",
                    HashMap::new(),
                    crate::rate_limit::RateLimits::parse_per_tenant,
                )?,
                in_flight: s.parse("PIKA_TENANT_MAX_IN_FLIGHT", None, |v| {
                    v.parse::<std::num::NonZeroU32>()
                        .map(Some)
                        .map_err(|_| format!("{v:?} is not a number from 1 up"))
                })?,
            },
            worker_concurrency: s.parse(
                "PIKA_WORKER_CONCURRENCY",
                pika_worker::runner::DEFAULT_CONCURRENCY,
                |v| {
                    v.parse::<u16>()
                        .ok()
                        .filter(|n| (1..=1024).contains(n))
                        .ok_or_else(|| format!("{v:?} is not a number from 1 to 1024"))
                },
            )?,
            log_format: s.parse("PIKA_LOG_FORMAT", LogFormat::Json, |v| match v {
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                _ => Err(format!("{v:?} is not json or text")),
            })?,
        })
    }

    /// What the worker needs to build its extractor.
    pub fn extractor_settings(&self) -> pika_worker::ExtractorSettings {
        match (&self.extractor, &self.llm_endpoint) {
            (ExtractorKind::Llm, Some(endpoint)) => {
                pika_worker::ExtractorSettings::Llm(endpoint.endpoint())
            }
            _ => pika_worker::ExtractorSettings::Rules,
        }
    }

    /// What the service needs to build its embedder.
    pub fn embedder_settings(&self) -> pika_worker::EmbedderSettings {
        match (&self.embedder, &self.embeddings_endpoint) {
            (EmbedderKind::OpenAi, Some(endpoint)) => {
                pika_worker::EmbedderSettings::OpenAi(endpoint.endpoint())
            }
            _ => match self.local_model {
                LocalModel::MultilingualE5Small => {
                    pika_worker::EmbedderSettings::Onnx(pika_worker::OnnxModelFiles {
                        model_dir: self.model_dir.clone(),
                        runtime_library: self.onnxruntime_library.clone(),
                        threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
                    })
                }
                LocalModel::MiniLmL6 => pika_worker::EmbedderSettings::Local {
                    model_dir: self.model_dir.clone(),
                },
            },
        }
    }

    /// The database URL with any password masked, for logs.
    pub fn database_for_logs(&self) -> String {
        self.database_url.as_ref().map_or_else(
            || "embedded".to_owned(),
            |url| mask_password(url.expose_secret()),
        )
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_sources(None, &move |name| env.get(name).cloned())
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        config(pairs).expect_err("should be refused").to_string()
    }

    #[test]
    fn defaults_describe_an_embedded_local_service() {
        let config = config(&[]).unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
        assert!(config.database_url.is_none());
        assert_eq!(config.embedder, EmbedderKind::Local);
        assert_eq!(config.local_model, LocalModel::MultilingualE5Small);
        assert_eq!(
            config.model_dir,
            PathBuf::from("./models/multilingual-e5-small")
        );
        assert_eq!(config.extractor, ExtractorKind::Rules);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert!(config.api_keys.is_empty());
    }

    #[test]
    fn the_english_model_stays_selectable_and_its_folder_follows_it() {
        let config = config(&[("PIKA_EMBEDDING_MODEL", "all-MiniLM-L6-v2")]).unwrap();
        assert_eq!(config.local_model, LocalModel::MiniLmL6);
        assert_eq!(config.model_dir, PathBuf::from("./models/all-MiniLM-L6-v2"));
        let message = error_of(&[("PIKA_EMBEDDING_MODEL", "bert")]);
        assert!(message.contains("PIKA_EMBEDDING_MODEL"), "{message}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let message = error_of(&[("PIKA_HTTP_ADDR", "localhost")]);
        assert!(message.contains("PIKA_HTTP_ADDR"), "{message}");
        let message = error_of(&[("PIKA_DATABASE_URL", "mysql://x")]);
        assert!(message.contains("PIKA_DATABASE_URL"), "{message}");
        let message = error_of(&[("PIKA_EMBEDDER", "magic")]);
        assert!(message.contains("PIKA_EMBEDDER"), "{message}");
        let message = error_of(&[("PIKA_API_KEYS", "acme")]);
        assert!(message.contains("PIKA_API_KEYS"), "{message}");
        let message = error_of(&[("PIKA_API_KEYS", "bad/tenant:longsecret")]);
        assert!(message.contains("tenant"), "{message}");
        let message = error_of(&[("PIKA_EXTRACTOR", "llm")]);
        assert!(message.contains("PIKA_LLM_BASE_URL"), "{message}");
    }

    #[test]
    fn api_keys_and_llm_settings_parse() {
        let config = config(&[
            ("PIKA_API_KEYS", "acme:s3cret-key-1, beta:another-key"),
            ("PIKA_EXTRACTOR", "llm"),
            ("PIKA_LLM_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("PIKA_LLM_MODEL", "llama3"),
        ])
        .unwrap();
        assert_eq!(config.api_keys.len(), 2);
        assert_eq!(config.api_keys[1].tenant.as_str(), "beta");
        let llm = config.llm_endpoint.unwrap();
        assert_eq!(llm.base_url, "http://127.0.0.1:11434/v1");
        assert!(llm.api_key.is_none());
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("pika-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pika.toml");
        std::fs::write(
            &path,
            "http_addr = \"0.0.0.0:9000\"\nredis_prefix = \"from-file\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "PIKA_REDIS_PREFIX").then(|| "from-env".to_owned());
        let config = Config::from_sources(Some(&path), &env).unwrap();
        assert_eq!(config.http_addr.port(), 9000);
        assert_eq!(config.redis_prefix, "from-env");

        std::fs::write(&path, "http_adr = \"0.0.0.0:9000\"\n").unwrap();
        let message = Config::from_sources(Some(&path), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("http_adr"), "{message}");
        std::fs::write(&path, "http_addr = \"nope\"\n").unwrap();
        let message = Config::from_sources(Some(&path), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("http_addr in"), "{message}");
    }

    #[test]
    fn passwords_are_masked_in_logs() {
        assert_eq!(
            mask_password("postgres://pika:hunter2@db:5432/pika"),
            "postgres://pika:***@db:5432/pika"
        );
        assert_eq!(mask_password("postgres://db/pika"), "postgres://db/pika");
    }
}

#[cfg(test)]
mod documentation {
    use super::SETTINGS;

    #[test]
    fn every_setting_is_in_env_example_and_the_readme() {
        let example = include_str!("../../../.env.example");
        let readme = include_str!("../../../README.md");
        for (name, _, _) in SETTINGS {
            assert!(
                example.contains(&format!("# {name}=")),
                "{name} missing from .env.example"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} missing from README.md"
            );
        }
    }
}
