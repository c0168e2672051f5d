//! An event store that keeps each aggregate's state in process between commands.
//!
//! cqrs-es' snapshot store rebuilds an aggregate from its snapshot and the events after it on
//! every load. For a user's memory that is the whole memory each time: a user with thousands of
//! facts paid for opening, parsing and folding all of them on every command and every read a
//! job makes, so a job cost grew with the memory (issue 19's profile: 2.2× at 2,000 facts).
//!
//! Here the state after each commit is kept, with the sequence it reflects, and a load reads
//! only the events committed after that sequence: by this process none, by another process
//! (the API while a worker runs, a second worker) just theirs. Every load still asks the store,
//! so several processes writing one aggregate stay correct; the saving is the fold, not the
//! round trip.
//!
//! Snapshots are written on the same rule as cqrs-es' store (when a commit crosses a multiple
//! of `snapshot_every`), so stores of both kinds can share one log, and a cold process still
//! loads from a snapshot. Two details differ on purpose:
//! - postgres-es commits the events before it checks the snapshot version, so a stale version
//!   would record the events and still report a conflict (and the retry would apply the command
//!   twice). A kept state therefore never commits a snapshot with a version it cannot vouch
//!   for: when events from another writer crossed a snapshot boundary, that writer wrote a
//!   snapshot, and the state is loaded afresh from it.
//! - cqrs-es folds the new events into the snapshot a second time (its sink already applied
//!   them); here the snapshot is the state after the commit, once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository, PersistenceError, SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use moka::ops::compute::Op;

/// An aggregate's state and the last event it reflects; cloning it shares the aggregate.
#[derive(Debug, Clone)]
pub struct KeptState<A> {
    pub aggregate: Arc<A>,
    pub sequence: usize,
    /// The version of the stored snapshot this state's next snapshot replaces.
    snapshot: Option<usize>,
}

/// How much a kept state weighs against the cache's capacity; the unit is roughly one fact.
pub trait StateWeight {
    fn weight(&self) -> u32;
}

impl<A: Aggregate + Clone> KeptState<A> {
    /// Applies `events`, copying the aggregate first only if a reader still shares it.
    fn apply(&mut self, events: Vec<EventEnvelope<A>>) {
        if events.is_empty() {
            return;
        }
        let aggregate = Arc::make_mut(counted_copy(&mut self.aggregate));
        for envelope in events {
            self.sequence = envelope.sequence;
            aggregate.apply(envelope.payload);
        }
    }
}

/// Counts the copies a shared state is about to cost: a command or a catch-up that finds the
/// state still shared copies the whole memory, the cost this store exists to avoid.
fn counted_copy<A: Aggregate>(aggregate: &mut Arc<A>) -> &mut Arc<A> {
    if Arc::strong_count(aggregate) > 1 {
        metrics::counter!("pika_aggregate_state_copies_total", "aggregate" => A::TYPE).increment(1);
    }
    aggregate
}

/// Where a state is kept. moka still references a removed value until its housekeeping runs
/// (under load, hundreds of milliseconds later), so a command that removed the state itself
/// would find it shared and copy the whole memory. A command instead empties the slot it
/// removes: what moka still holds is an empty slot, and the state it took is its alone.
struct Slot<A>(Mutex<Option<KeptState<A>>>);

impl<A: Aggregate> Slot<A> {
    fn holding(state: KeptState<A>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Some(state))))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<KeptState<A>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct CachedAggregateStore<R, A: Aggregate> {
    repository: R,
    snapshot_every: usize,
    kept: moka::sync::Cache<String, Arc<Slot<A>>>,
}

impl<R, A> CachedAggregateStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone + StateWeight + 'static,
{
    /// `capacity` is in [`StateWeight`] units. A state unused for `idle` is dropped: it would
    /// only be caught up again, and a forgotten user's facts leave memory with it.
    pub fn new(repository: R, snapshot_every: usize, capacity: u64, idle: Duration) -> Self {
        Self {
            repository,
            snapshot_every,
            kept: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .weigher(|_, slot: &Arc<Slot<A>>| {
                    slot.state()
                        .as_ref()
                        .map_or(0, |state| state.aggregate.weight())
                        .saturating_add(1)
                })
                .time_to_idle(idle)
                .build(),
        }
    }

    /// The current state, shared: a read neither copies the kept state nor takes it away.
    pub async fn load_shared(
        &self,
        aggregate_id: &str,
    ) -> Result<KeptState<A>, AggregateError<A::Error>> {
        let kept = self
            .kept
            .get(aggregate_id)
            .and_then(|slot| slot.state().clone());
        let current = self.current(aggregate_id, kept).await?;
        self.keep(aggregate_id, current.clone());
        Ok(current)
    }

    /// The stored state now: `kept` caught up, or (none kept) loaded from the snapshot, which
    /// reads to the end and so needs no second look for later events.
    async fn current(
        &self,
        aggregate_id: &str,
        kept: Option<KeptState<A>>,
    ) -> Result<KeptState<A>, AggregateError<A::Error>> {
        Ok(match kept {
            Some(kept) => {
                let newer = self.events_after(aggregate_id, kept.sequence).await?;
                Self::counted(self.caught_up(aggregate_id, kept, newer).await?, "kept")
            }
            None => Self::counted(self.load_from_snapshot(aggregate_id).await?, "snapshot"),
        })
    }

    /// A second store over `repository` that shares this one's kept states.
    pub fn sharing(&self, repository: R) -> Self {
        Self {
            repository,
            snapshot_every: self.snapshot_every,
            kept: self.kept.clone(),
        }
    }

    async fn load_from_snapshot(
        &self,
        aggregate_id: &str,
    ) -> Result<KeptState<A>, AggregateError<A::Error>> {
        let snapshot = self.repository.get_snapshot::<A>(aggregate_id).await?;
        let context = match snapshot.map(EventStoreAggregateContext::<A>::try_from) {
            None | Some(Err(PersistenceError::DeserializationError(_))) => None,
            Some(context) => Some(context?),
        };
        let mut state = context.map_or_else(
            || KeptState {
                aggregate: Arc::default(),
                sequence: 0,
                snapshot: None,
            },
            |context| KeptState {
                aggregate: Arc::new(context.aggregate),
                sequence: context.current_sequence,
                snapshot: context.current_snapshot,
            },
        );
        let events = self.events_after(aggregate_id, state.sequence).await?;
        state.apply(events);
        Ok(state)
    }

    /// `state` with `newer` applied, or loaded afresh when another writer's events crossed a
    /// snapshot boundary (see the module's notes).
    async fn caught_up(
        &self,
        aggregate_id: &str,
        mut state: KeptState<A>,
        newer: Vec<EventEnvelope<A>>,
    ) -> Result<KeptState<A>, AggregateError<A::Error>> {
        let last = newer.last().map_or(state.sequence, |event| event.sequence);
        if self.boundaries_crossed(state.sequence, last) {
            return self.load_from_snapshot(aggregate_id).await;
        }
        state.apply(newer);
        Ok(state)
    }

    fn boundaries_crossed(&self, from: usize, to: usize) -> bool {
        from / self.snapshot_every != to / self.snapshot_every
    }

    async fn events_after(
        &self,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let serialized = if sequence == 0 {
            self.repository.get_events::<A>(aggregate_id).await?
        } else {
            self.repository
                .get_last_events::<A>(aggregate_id, sequence)
                .await?
        };
        Ok(serialized
            .into_iter()
            .map(EventEnvelope::try_from)
            .collect::<Result<_, PersistenceError>>()?)
    }

    /// Keeps `state` unless a state at least as recent is kept already (a commit and a read
    /// may finish in either order).
    fn keep(&self, aggregate_id: &str, state: KeptState<A>) {
        self.kept
            .entry_by_ref(aggregate_id)
            .and_compute_with(|kept| match kept {
                Some(kept)
                    if kept
                        .value()
                        .state()
                        .as_ref()
                        .is_some_and(|kept| kept.sequence >= state.sequence) =>
                {
                    Op::Nop
                }
                _ => Op::Put(Slot::holding(state)),
            });
    }

    /// Counts where loads start from, for the operator's hit ratio: a process whose loads
    /// mostly start from snapshots needs a larger cache, or sees users too rarely to keep them.
    fn counted(state: KeptState<A>, from: &'static str) -> KeptState<A> {
        metrics::counter!("pika_aggregate_loads_total", "aggregate" => A::TYPE, "from" => from)
            .increment(1);
        state
    }
}

impl<R, A> EventStore<A> for CachedAggregateStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone + StateWeight + 'static,
{
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.events_after(aggregate_id, 0).await
    }

    /// Takes the kept state out for the command: the command changes it in place, and a
    /// command that is refused or loses a race leaves nothing behind to be mistaken for
    /// the stored state.
    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<EventStoreAggregateContext<A>, AggregateError<A::Error>> {
        let kept = self
            .kept
            .remove(aggregate_id)
            .and_then(|slot| slot.state().take());
        let mut state = self.current(aggregate_id, kept).await?;
        counted_copy(&mut state.aggregate);
        Ok(EventStoreAggregateContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: Arc::unwrap_or_clone(state.aggregate),
            current_sequence: state.sequence,
            current_snapshot: state.snapshot,
        })
    }

    /// `context.aggregate` already holds the new events (cqrs-es' sink applies them as the
    /// command writes them), so it is the state to snapshot and to keep.
    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: EventStoreAggregateContext<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let EventStoreAggregateContext {
            aggregate_id,
            aggregate,
            current_sequence,
            current_snapshot,
        } = context;
        let count = events.len();
        let envelopes: Vec<EventEnvelope<A>> = events
            .into_iter()
            .zip(current_sequence + 1..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        let serialized = envelopes
            .iter()
            .map(SerializedEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let snapshot_due = self.boundaries_crossed(current_sequence, current_sequence + count);
        let snapshot = if snapshot_due {
            Some(current_snapshot.map_or(1, |version| version + 1))
        } else {
            current_snapshot
        };
        if count > 0 {
            let update = match snapshot {
                Some(version) if snapshot_due => Some((
                    aggregate_id.clone(),
                    serde_json::to_value(&aggregate)?,
                    version,
                )),
                _ => None,
            };
            self.repository.persist::<A>(&serialized, update).await?;
        }
        let state = KeptState {
            aggregate: Arc::new(aggregate),
            sequence: current_sequence + count,
            snapshot,
        };
        self.keep(&aggregate_id, state);
        Ok(envelopes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cqrs_es::event_sink::EventSink;
    use cqrs_es::{CqrsFramework, DomainEvent};
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::sqlite::{SqliteEventRepository, connect_sqlite, migrate_sqlite};

    /// Copies of every `Tally`: this module's one test is the only one that makes them.
    static COPIES: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Tally {
        count: u64,
    }

    impl Clone for Tally {
        fn clone(&self) -> Self {
            COPIES.fetch_add(1, Ordering::SeqCst);
            Self { count: self.count }
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Counted;

    impl DomainEvent for Counted {
        fn event_type(&self) -> String {
            "Counted".to_owned()
        }

        fn event_version(&self) -> String {
            "1".to_owned()
        }
    }

    impl Aggregate for Tally {
        const TYPE: &'static str = "Tally";
        type Command = ();
        type Event = Counted;
        type Error = std::convert::Infallible;
        type Services = ();

        async fn handle(
            &mut self,
            _command: (),
            _services: &(),
            sink: &EventSink<Self>,
        ) -> Result<(), Self::Error> {
            sink.write(Counted, self).await;
            Ok(())
        }

        fn apply(&mut self, _event: Counted) {
            self.count += 1;
        }
    }

    impl StateWeight for Tally {
        fn weight(&self) -> u32 {
            1
        }
    }

    /// Commands in quick succession, as a busy worker runs them, each take the kept state
    /// rather than copy it: the cache must not still share what a command took out.
    #[tokio::test]
    async fn a_command_takes_the_kept_state_without_copying_it() {
        let dir = std::env::temp_dir().join(format!("pika-kept-{}", uuid::Uuid::new_v4()));
        let pool = connect_sqlite(&dir, 2).await.unwrap();
        migrate_sqlite(&pool).await.unwrap();
        let store: CachedAggregateStore<_, Tally> = CachedAggregateStore::new(
            SqliteEventRepository::new(pool),
            100,
            1_000,
            Duration::from_secs(600),
        );
        let reader = store.sharing(store.repository.clone());
        let cqrs = CqrsFramework::new(store, vec![], ());
        for _ in 0..30 {
            cqrs.execute("tally-1", ()).await.unwrap();
            let shared = reader.load_shared("tally-1").await.unwrap();
            drop(shared);
        }
        assert_eq!(
            reader.load_shared("tally-1").await.unwrap().aggregate.count,
            30
        );
        assert_eq!(COPIES.load(Ordering::SeqCst), 0);
        std::fs::remove_dir_all(dir).ok();
    }
}
