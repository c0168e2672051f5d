//! Passages from many jobs embedded in one model run.
//!
//! The worker runs many jobs at once, and each asks for the vectors of a few texts (its turns,
//! then its facts). A model run costs much less per text in a batch than alone: e5 embeds
//! about 750 sentences a second in batches of 32 against about 350 one at a time, and one model
//! run holds the session, so jobs wait for each other anyway. Requests that arrive while a
//! run is in progress are taken together by the next run: nothing waits on a timer, and a
//! lone request runs at once.

use std::sync::Arc;

use async_trait::async_trait;
use pika_domain::{Embedder, EmbeddingError, SimilarityScale};
use tokio::sync::{mpsc, oneshot};

/// Texts in one model run at most: more would pad many short texts to one long one.
const MAX_TEXTS_PER_RUN: usize = 64;

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, EmbeddingError>>;

struct Request {
    texts: Vec<String>,
    reply: Reply,
}

/// An embedder whose `embed` calls are pooled into shared runs of the one it wraps; questions
/// (`embed_query`) go straight through, as a search should not wait behind a batch.
#[derive(Clone)]
pub struct BatchedEmbedder {
    inner: Arc<dyn Embedder>,
    requests: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for BatchedEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedEmbedder")
            .field("inner", &self.inner)
            .finish()
    }
}

impl BatchedEmbedder {
    /// Starts the task that runs the batches; it ends when the last clone is dropped. Must be
    /// called inside a Tokio runtime.
    pub fn new(inner: Arc<dyn Embedder>) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_batches(inner.clone(), receiver));
        Self { inner, requests }
    }
}

async fn run_batches(inner: Arc<dyn Embedder>, mut receiver: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let mut texts = batch[0].texts.len();
        while texts < MAX_TEXTS_PER_RUN {
            match receiver.try_recv() {
                Ok(request) => {
                    texts += request.texts.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!("pika_embedding_batch_texts").record(texts as f64);
        let mut all = Vec::with_capacity(texts);
        let mut replies = Vec::with_capacity(batch.len());
        for request in batch {
            replies.push((request.texts.len(), request.reply));
            all.extend(request.texts);
        }
        let answer = match inner.embed(&all).await {
            Ok(vectors) if vectors.len() == all.len() => Ok(vectors),
            Ok(vectors) => Err(EmbeddingError::Failed(format!(
                "{} vectors for {} texts",
                vectors.len(),
                all.len()
            ))),
            Err(error) => Err(error),
        };
        match answer {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for (count, reply) in replies {
                    reply.send(Ok(vectors.by_ref().take(count).collect())).ok();
                }
            }
            Err(error) => {
                for (_, reply) in replies {
                    reply.send(Err(error.clone())).ok();
                }
            }
        }
    }
}

#[async_trait]
impl Embedder for BatchedEmbedder {
    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            texts: texts.to_vec(),
            reply,
        };
        let gone = || EmbeddingError::Failed("the embedding batch task has stopped".to_owned());
        self.requests.send(request).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbeddingError> {
        self.inner.embed_query(query).await
    }

    fn similarity_scale(&self) -> SimilarityScale {
        self.inner.similarity_scale()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// A model that takes 20 ms a run and records each run's texts; a text's vector is its
    /// length, so each caller can check it got its own.
    #[derive(Debug, Default)]
    struct SlowModel {
        runs: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl Embedder for SlowModel {
        fn model(&self) -> &str {
            "slow"
        }

        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
            self.runs.lock().unwrap().push(texts.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[tokio::test]
    async fn requests_arriving_during_a_run_share_the_next_run_and_each_gets_its_own_vectors() {
        let model = Arc::new(SlowModel::default());
        let batched = BatchedEmbedder::new(model.clone());
        let calls: Vec<_> = (1..=10)
            .map(|n| {
                let batched = batched.clone();
                tokio::spawn(async move {
                    let texts: Vec<String> = (0..n).map(|i| "x".repeat(n * 100 + i)).collect();
                    let vectors = batched.embed(&texts).await.unwrap();
                    let expected: Vec<Vec<f32>> =
                        texts.iter().map(|t| vec![t.len() as f32]).collect();
                    assert_eq!(vectors, expected);
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        let runs = model.runs.lock().unwrap().clone();
        assert_eq!(
            runs.iter().sum::<usize>(),
            55,
            "every text embedded once: {runs:?}"
        );
        assert!(
            runs.len() <= 3,
            "10 requests in {} runs: {runs:?}",
            runs.len()
        );
    }

    #[tokio::test]
    async fn a_failed_run_fails_every_request_in_it() {
        #[derive(Debug)]
        struct Down;
        #[async_trait]
        impl Embedder for Down {
            fn model(&self) -> &str {
                "down"
            }
            async fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
                Err(EmbeddingError::Unavailable("timed out".into()))
            }
        }
        let batched = BatchedEmbedder::new(Arc::new(Down));
        let error = batched.embed(&["a".to_owned()]).await.unwrap_err();
        assert_eq!(error, EmbeddingError::Unavailable("timed out".into()));
    }
}
