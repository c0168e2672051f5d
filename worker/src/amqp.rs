//! RabbitMQ: the job queues, publishing with confirms, and consuming with manual acks.
//!
//! Three durable queues per deployment prefix: the work queue; a retry queue whose messages
//! wait out a per-message expiration and are then dead-lettered back onto the work queue
//! (the backoff); and a dead-letter queue where messages that must not run again are kept,
//! with their reason, for an operator.

use std::time::Duration;

use async_trait::async_trait;
use lapin::Confirmation;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use pika_domain::job_queue::{JobMessage, JobPublisher};
use tokio::sync::Mutex;
use tracing::warn;

/// How long one broker operation may take before it counts as a failure.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// The queue names of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNames {
    pub work: String,
    pub retry: String,
    pub dead: String,
}

impl QueueNames {
    pub fn new(prefix: &str) -> Self {
        Self {
            work: format!("{prefix}.extraction"),
            retry: format!("{prefix}.extraction.retry"),
            dead: format!("{prefix}.extraction.dead"),
        }
    }
}

/// A message to publish, with the headers and delay it carries.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub headers: Vec<(&'static str, String)>,
    /// For the retry queue: how long the message waits before it is delivered again.
    pub delay: Option<Duration>,
}

pub struct AmqpJobQueue {
    url: String,
    names: QueueNames,
    publishing: Mutex<Option<(Connection, Channel)>>,
}

impl std::fmt::Debug for AmqpJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpJobQueue")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// Every wait on the broker is bounded: a connection that went quiet (a cut, a broker
/// stalled) must surface as an error the caller can act on, never as a task waiting forever.
pub(crate) async fn within<T, E: std::fmt::Display>(
    what: &str,
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(BROKER_TIMEOUT, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("rabbitmq {what} failed: {error}")),
        Err(_) => Err(format!(
            "rabbitmq {what}: no answer within {BROKER_TIMEOUT:?}"
        )),
    }
}

impl AmqpJobQueue {
    pub fn new(url: String, prefix: &str) -> Self {
        Self {
            url,
            names: QueueNames::new(prefix),
            publishing: Mutex::new(None),
        }
    }

    pub fn names(&self) -> &QueueNames {
        &self.names
    }

    async fn open_channel(&self) -> Result<(Connection, Channel), String> {
        let connection = within(
            "connection",
            Connection::connect(&self.url, ConnectionProperties::default()),
        )
        .await?;
        let channel = within("channel", connection.create_channel()).await?;
        self.declare_topology(&channel).await?;
        Ok((connection, channel))
    }

    /// Declares the three queues; declaring them again with the same arguments is a no-op.
    async fn declare_topology(&self, channel: &Channel) -> Result<(), String> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        within(
            "declare",
            channel.queue_declare(
                self.names.work.as_str().into(),
                durable,
                FieldTable::default(),
            ),
        )
        .await?;
        within(
            "declare",
            channel.queue_declare(
                self.names.dead.as_str().into(),
                durable,
                FieldTable::default(),
            ),
        )
        .await?;
        let mut retry_arguments = FieldTable::default();
        retry_arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        retry_arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(self.names.work.as_str().into()),
        );
        within(
            "declare",
            channel.queue_declare(self.names.retry.as_str().into(), durable, retry_arguments),
        )
        .await?;
        Ok(())
    }

    /// Publishes persistently and waits for the broker's confirm.
    pub async fn publish_to(
        &self,
        queue: &str,
        payload: &[u8],
        outgoing: Outgoing,
    ) -> Result<(), String> {
        let mut guard = self.publishing.lock().await;
        let reusable = guard.as_ref().is_some_and(|(connection, channel)| {
            connection.status().connected() && channel.status().connected()
        });
        if !reusable {
            let (connection, channel) = self.open_channel().await?;
            within(
                "confirm.select",
                channel.confirm_select(ConfirmSelectOptions::default()),
            )
            .await?;
            *guard = Some((connection, channel));
        }
        let Some((_, channel)) = guard.as_ref() else {
            return Err("rabbitmq channel unavailable".into());
        };
        let mut headers = FieldTable::default();
        for (name, value) in outgoing.headers {
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
        }
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        if let Some(delay) = outgoing.delay {
            properties =
                properties.with_expiration(ShortString::from(delay.as_millis().to_string()));
        }
        let result = async {
            let confirm = within(
                "publish",
                channel.basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    payload,
                    properties,
                ),
            )
            .await?;
            match within("publish confirm", confirm).await? {
                Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
                Confirmation::Nack(_) => Err("rabbitmq refused the message (nack)".to_owned()),
            }
        }
        .await;
        if result.is_err() {
            *guard = None;
        }
        result
    }

    /// How many messages wait in `queue` (for tests and operators).
    pub async fn message_count(&self, queue: &str) -> Result<u32, String> {
        let (connection, channel) = self.open_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = within(
            "declare",
            channel.queue_declare(queue.into(), passive, FieldTable::default()),
        )
        .await?;
        within("close", connection.close(200, "done".into()))
            .await
            .ok();
        Ok(declared.message_count())
    }

    /// A consumer on the work queue with at most `prefetch` unacknowledged deliveries, on a
    /// connection of its own (returned so it lives as long as the consumer).
    pub async fn consume(
        &self,
        prefetch: u16,
        tag: &str,
    ) -> Result<(Connection, Consumer), String> {
        let (connection, channel) = self.open_channel().await?;
        within(
            "basic.qos",
            channel.basic_qos(prefetch, BasicQosOptions::default()),
        )
        .await?;
        let consumer = within(
            "basic.consume",
            channel.basic_consume(
                self.names.work.as_str().into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok((connection, consumer))
    }
}

#[async_trait]
impl JobPublisher for AmqpJobQueue {
    async fn publish(&self, job: &JobMessage) -> Result<(), String> {
        let payload = serde_json::to_vec(job).map_err(|e| e.to_string())?;
        let result = self
            .publish_to(&self.names.work, &payload, Outgoing::default())
            .await;
        if let Err(error) = &result {
            warn!(%error, job_id = %job.job_id, "job not published yet; the dispatcher will retry");
        }
        result
    }
}
