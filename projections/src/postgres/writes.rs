//! The projection sink on a Postgres transaction: the daemon's live batches and the rebuild's
//! fresh tables.

use async_trait::async_trait;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ProjectionError;
use crate::episodes::EpisodeRow;
use crate::fact_record::{FactChange, fact_cache_keys, fact_vector_digest};
use crate::favorite_summary::FavoriteSummary;
use crate::jobs::{JOB_COLUMNS, JobRecord};
use crate::postgres::copy::CopyRows;
use crate::projection::TableSet;
use crate::writes::{
    ExtractionJobRow, FactRow, ReadModelWrites, SummaryRow, bind_episode_row,
    bind_fact_description, bind_job_record, bind_summary_row,
};

/// The caller's transaction, seen as a projection sink.
#[derive(Debug)]
pub struct PostgresWrites<'c> {
    connection: &'c mut PgConnection,
}

impl<'c> PostgresWrites<'c> {
    pub fn new(connection: &'c mut PgConnection) -> Self {
        Self { connection }
    }
}

const FACT_COLUMNS: &str = "tenant, user_id, fact_id, key, kind, value, text, confidence, \
    language, source_job_id, source_messages, version, created_at, updated_at, global_position";

/// Maps of strings always serialise.
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Appends a job's row in `tenant, job_id, JOB_COLUMNS` order.
fn copy_job(copy: &mut CopyRows, row: &ExtractionJobRow) {
    let record = &row.record;
    copy.text(&row.tenant)
        .plain(row.job_id)
        .text(&record.user_id)
        .text(&record.status)
        .plain(record.attempts)
        .optional_text(record.last_error.as_deref())
        .optional_text(record.idempotency_key.as_deref())
        .time(record.submitted_at)
        .optional_time(record.started_at)
        .optional_time(record.finished_at)
        .plain(record.added)
        .plain(record.updated)
        .plain(record.retracted)
        .plain(record.unchanged)
        .plain(record.transaction_id)
        .plain(record.global_position)
        .end_row();
}

fn corrupt_summary(error: serde_json::Error) -> ProjectionError {
    ProjectionError::Corrupt {
        position: 0,
        detail: format!("user_favorite_summary: {error}"),
    }
}

impl PostgresWrites<'_> {
    /// Deletes every row of a forgotten user in `table`.
    async fn delete_user_rows(
        &mut self,
        table: &str,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError> {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant = $1 AND user_id = $2"
        ))
        .bind(tenant)
        .bind(user_id)
        .execute(&mut *self.connection)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ReadModelWrites for PostgresWrites<'_> {
    async fn apply_fact_change(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
        change: FactChange,
        position: i64,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("facts");
        match change {
            FactChange::Insert(record) => {
                let sql = format!(
                    "INSERT INTO {table} ({FACT_COLUMNS}, embedding, embedding_model)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                            e.vector, e.model
                       FROM (SELECT 1) AS one
                       LEFT JOIN embedding_cache e ON e.text_sha256 = $16
                     ON CONFLICT (tenant, user_id, fact_id) DO NOTHING"
                );
                let statement = sqlx::query(&sql)
                    .bind(tenant)
                    .bind(user_id)
                    .bind(record.fact_id);
                bind_fact_description(statement, &record)
                    .bind(record.source.job_id)
                    .bind(&record.source.message_indexes)
                    .bind(record.version)
                    .bind(record.created_at)
                    .bind(record.updated_at)
                    .bind(position)
                    .bind(fact_vector_digest(&record.key, &record.text))
                    .execute(&mut *self.connection)
                    .await?;
            }
            FactChange::Update {
                fact_id,
                key,
                value,
                text,
                confidence,
                source,
                version,
                updated_at,
            } => {
                sqlx::query(&format!(
                    "UPDATE {table} SET value = $4, text = $5, confidence = $6, source_job_id = $7,
                        source_messages = $8, version = $9, updated_at = $10, global_position = $11,
                        embedding = e.vector, embedding_model = e.model
                       FROM (SELECT 1) AS one
                       LEFT JOIN embedding_cache e ON e.text_sha256 = $12
                     WHERE tenant = $1 AND user_id = $2 AND fact_id = $3"
                ))
                .bind(tenant)
                .bind(user_id)
                .bind(fact_id)
                .bind(value)
                .bind(&text)
                .bind(confidence)
                .bind(source.job_id)
                .bind(source.message_indexes)
                .bind(version)
                .bind(updated_at)
                .bind(position)
                .bind(fact_vector_digest(&key, &text))
                .execute(&mut *self.connection)
                .await?;
            }
            FactChange::Remove { fact_id } => {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE tenant = $1 AND user_id = $2 AND fact_id = $3"
                ))
                .bind(tenant)
                .bind(user_id)
                .bind(fact_id)
                .execute(&mut *self.connection)
                .await?;
            }
        }
        Ok(())
    }

    async fn favorite_summary_for_update(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<FavoriteSummary>, ProjectionError> {
        let table = tables.name("user_favorite_summary");
        let row: Option<(serde_json::Value, serde_json::Value, serde_json::Value, i32)> =
            sqlx::query_as(&format!(
                "SELECT favorites, likes, dislikes, live_facts FROM {table}
                  WHERE tenant = $1 AND user_id = $2 FOR UPDATE"
            ))
            .bind(tenant)
            .bind(user_id)
            .fetch_optional(&mut *self.connection)
            .await?;
        row.map(|(favorites, likes, dislikes, live_facts)| {
            Ok(FavoriteSummary {
                favorites: serde_json::from_value(favorites).map_err(corrupt_summary)?,
                likes: serde_json::from_value(likes).map_err(corrupt_summary)?,
                dislikes: serde_json::from_value(dislikes).map_err(corrupt_summary)?,
                live_facts,
            })
        })
        .transpose()
    }

    async fn put_favorite_summary(
        &mut self,
        tables: TableSet,
        row: &SummaryRow,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("user_favorite_summary");
        let sql = format!(
            "INSERT INTO {table} (tenant, user_id, favorites, likes, dislikes, live_facts,
                last_changed_at, global_position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (tenant, user_id) DO UPDATE SET favorites = $3, likes = $4,
                dislikes = $5, live_facts = $6, last_changed_at = $7, global_position = $8"
        );
        bind_summary_row(sqlx::query(&sql), row)
            .execute(&mut *self.connection)
            .await?;
        Ok(())
    }

    async fn job_for_update(
        &mut self,
        tables: TableSet,
        tenant: &str,
        job_id: Uuid,
    ) -> Result<Option<JobRecord>, ProjectionError> {
        let table = tables.name("extraction_jobs");
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM {table} WHERE tenant = $1 AND job_id = $2 FOR UPDATE"
        ))
        .bind(tenant)
        .bind(job_id)
        .fetch_optional(&mut *self.connection)
        .await?)
    }

    async fn put_job(
        &mut self,
        tables: TableSet,
        row: &ExtractionJobRow,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("extraction_jobs");
        let record = &row.record;
        let sql = format!(
            "INSERT INTO {table} (tenant, job_id, {JOB_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (tenant, job_id) DO UPDATE SET status = $4, attempts = $5,
                last_error = $6, started_at = $9, finished_at = $10, added = $11, updated = $12,
                retracted = $13, unchanged = $14, transaction_id = $15, global_position = $16"
        );
        let statement = sqlx::query(&sql).bind(&row.tenant).bind(row.job_id);
        bind_job_record(statement, record)
            .bind(record.transaction_id)
            .bind(record.global_position)
            .execute(&mut *self.connection)
            .await?;
        Ok(())
    }

    async fn put_episodes(
        &mut self,
        tables: TableSet,
        rows: &[EpisodeRow],
    ) -> Result<(), ProjectionError> {
        let table = tables.name("episodes");
        let sql = format!(
            "INSERT INTO {table} (tenant, user_id, job_id, message_index, episode_id, role, name,
                content, content_sha256, occurred_at, global_position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (tenant, job_id, message_index) DO NOTHING"
        );
        for row in rows {
            bind_episode_row(sqlx::query(&sql), row, |id| id)
                .execute(&mut *self.connection)
                .await?;
        }
        Ok(())
    }

    async fn forget_facts(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("facts");
        let facts: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT key, text FROM {table} WHERE tenant = $1 AND user_id = $2"
        ))
        .bind(tenant)
        .bind(user_id)
        .fetch_all(&mut *self.connection)
        .await?;
        let digests: Vec<Vec<u8>> = facts
            .iter()
            .flat_map(|(key, text)| fact_cache_keys(key, text))
            .collect();
        sqlx::query("DELETE FROM embedding_cache WHERE text_sha256 = ANY($1)")
            .bind(digests)
            .execute(&mut *self.connection)
            .await?;
        self.delete_user_rows(&table, tenant, user_id).await
    }

    async fn forget_episodes(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("episodes");
        sqlx::query(&format!(
            "DELETE FROM embedding_cache WHERE text_sha256 IN
               (SELECT content_sha256 FROM {table} WHERE tenant = $1 AND user_id = $2)"
        ))
        .bind(tenant)
        .bind(user_id)
        .execute(&mut *self.connection)
        .await?;
        self.delete_user_rows(&table, tenant, user_id).await
    }

    /// Vectors are joined in from `embedding_cache` as the live path does, so the rows go
    /// through a staging table first.
    async fn bulk_facts(
        &mut self,
        tables: TableSet,
        rows: Vec<FactRow>,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("facts");
        sqlx::query(
            "CREATE TEMP TABLE facts_rebuild_staging
               (LIKE facts INCLUDING DEFAULTS, vector_digest bytea) ON COMMIT DROP",
        )
        .execute(&mut *self.connection)
        .await?;
        let mut copy = CopyRows::default();
        for FactRow {
            tenant,
            record: fact,
            position,
        } in &rows
        {
            copy.text(tenant)
                .text(&fact.user_id)
                .plain(fact.fact_id)
                .text(&fact.key)
                .text(&fact.kind)
                .text(&fact.value)
                .text(&fact.text)
                .plain(fact.confidence)
                .text(&fact.language)
                .optional_plain(fact.source.job_id)
                .integers(&fact.source.message_indexes)
                .plain(fact.version)
                .time(fact.created_at)
                .time(fact.updated_at)
                .plain(position)
                .bytes(&fact_vector_digest(&fact.key, &fact.text))
                .end_row();
        }
        copy.copy_into(
            self.connection,
            "facts_rebuild_staging",
            &format!("{FACT_COLUMNS}, vector_digest"),
        )
        .await?;
        let written = sqlx::query(&format!(
            "INSERT INTO {table} ({FACT_COLUMNS}, embedding, embedding_model)
             SELECT s.tenant, s.user_id, s.fact_id, s.key, s.kind, s.value, s.text, s.confidence,
                    s.language, s.source_job_id, s.source_messages, s.version, s.created_at,
                    s.updated_at, s.global_position, e.vector, e.model
               FROM facts_rebuild_staging s
               LEFT JOIN embedding_cache e ON e.text_sha256 = s.vector_digest"
        ))
        .execute(&mut *self.connection)
        .await?;
        Ok(written.rows_affected())
    }

    async fn bulk_summaries(
        &mut self,
        tables: TableSet,
        rows: Vec<SummaryRow>,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("user_favorite_summary");
        let mut copy = CopyRows::default();
        for row in &rows {
            copy.text(&row.tenant)
                .text(&row.user_id)
                .text(&json_text(&row.summary.favorites))
                .text(&json_text(&row.summary.likes))
                .text(&json_text(&row.summary.dislikes))
                .plain(row.summary.live_facts)
                .time(row.last_changed_at)
                .plain(row.position)
                .end_row();
        }
        copy.copy_into(
            self.connection,
            &table,
            "tenant, user_id, favorites, likes, dislikes, live_facts, last_changed_at, \
             global_position",
        )
        .await
    }

    async fn bulk_jobs(
        &mut self,
        tables: TableSet,
        rows: Vec<ExtractionJobRow>,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("extraction_jobs");
        let mut copy = CopyRows::default();
        for row in &rows {
            copy_job(&mut copy, row);
        }
        copy.copy_into(
            self.connection,
            &table,
            &format!("tenant, job_id, {JOB_COLUMNS}"),
        )
        .await
    }

    async fn bulk_episodes(
        &mut self,
        tables: TableSet,
        rows: Vec<EpisodeRow>,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("episodes");
        let mut copy = CopyRows::default();
        for row in &rows {
            let record = &row.record;
            copy.text(&row.tenant)
                .text(&row.user_id)
                .plain(record.job_id)
                .plain(record.message_index)
                .plain(record.episode_id)
                .text(&record.role)
                .optional_text(record.name.as_deref())
                .text(&record.content)
                .bytes(&crate::episodes::content_digest(&record.content))
                .time(record.occurred_at)
                .plain(row.position);
            copy.end_row();
        }
        copy.copy_into(
            self.connection,
            &table,
            "tenant, user_id, job_id, message_index, episode_id, role, name, content, \
             content_sha256, occurred_at, global_position",
        )
        .await
    }
}
