//! The projection sink on a SQLite transaction: the embedded projector's batches and the
//! embedded rebuild. SQLite has one writer at a time, so "for update" reads need no lock of
//! their own; uuids and JSON are kept as text.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::ProjectionError;
use crate::episodes::EpisodeRow;
use crate::fact_record::{FactChange, FactRecord};
use crate::fact_record::{fact_cache_keys, fact_vector_digest};
use crate::favorite_summary::FavoriteSummary;
use crate::jobs::JobRecord;
use crate::projection::TableSet;
use crate::sqlite::{job_record, sqlite_json};
use crate::writes::{
    ExtractionJobRow, FactRow, ReadModelWrites, SummaryRow, bind_episode_row,
    bind_fact_description, bind_job_record, bind_summary_row,
};

/// The caller's transaction, seen as a projection sink.
#[derive(Debug)]
pub struct SqliteWrites<'c> {
    connection: &'c mut SqliteConnection,
}

impl<'c> SqliteWrites<'c> {
    pub fn new(connection: &'c mut SqliteConnection) -> Self {
        Self { connection }
    }

    async fn insert_fact(
        &mut self,
        table: &str,
        tenant: &str,
        record: &FactRecord,
        position: i64,
    ) -> Result<(), ProjectionError> {
        let sql = format!(
            "INSERT INTO {table} (tenant, user_id, fact_id, key, kind, value, text, confidence,
                language, source_job_id, source_messages, version, created_at, updated_at,
                global_position, embedding, embedding_model)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                    e.vector, e.model
               FROM (SELECT 1) AS one
               LEFT JOIN embedding_cache e ON e.text_sha256 = ?16
             ON CONFLICT (tenant, user_id, fact_id) DO NOTHING"
        );
        let statement = sqlx::query(&sql)
            .bind(tenant)
            .bind(&record.user_id)
            .bind(record.fact_id.hyphenated().to_string());
        bind_fact_description(statement, record)
            .bind(record.source.job_id.map(|id| id.hyphenated().to_string()))
            .bind(json_text(&record.source.message_indexes))
            .bind(record.version)
            .bind(record.created_at)
            .bind(record.updated_at)
            .bind(position)
            .bind(fact_vector_digest(&record.key, &record.text))
            .execute(&mut *self.connection)
            .await?;
        Ok(())
    }
}

fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

const JOB_COLUMNS: &str = "user_id, status, attempts, last_error, idempotency_key, submitted_at,
    started_at, finished_at, added, updated, retracted, unchanged, global_position";

impl SqliteWrites<'_> {
    /// Deletes every row of a forgotten user in `table`.
    async fn delete_user_rows(
        &mut self,
        table: &str,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError> {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant = ? AND user_id = ?"
        ))
        .bind(tenant)
        .bind(user_id)
        .execute(&mut *self.connection)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ReadModelWrites for SqliteWrites<'_> {
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
                self.insert_fact(&table, tenant, &record, position).await?;
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
                    "UPDATE {table} SET value = ?4, text = ?5, confidence = ?6, source_job_id = ?7,
                        source_messages = ?8, version = ?9, updated_at = ?10, global_position = ?11,
                        embedding = (SELECT vector FROM embedding_cache WHERE text_sha256 = ?12),
                        embedding_model = (SELECT model FROM embedding_cache WHERE text_sha256 = ?12)
                      WHERE tenant = ?1 AND user_id = ?2 AND fact_id = ?3"
                ))
                .bind(tenant)
                .bind(user_id)
                .bind(fact_id.hyphenated().to_string())
                .bind(&value)
                .bind(&text)
                .bind(confidence)
                .bind(source.job_id.map(|id| id.hyphenated().to_string()))
                .bind(json_text(&source.message_indexes))
                .bind(version)
                .bind(updated_at)
                .bind(position)
                .bind(fact_vector_digest(&key, &text))
                .execute(&mut *self.connection)
                .await?;
            }
            FactChange::Remove { fact_id } => {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE tenant = ? AND user_id = ? AND fact_id = ?"
                ))
                .bind(tenant)
                .bind(user_id)
                .bind(fact_id.hyphenated().to_string())
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
        let row = sqlx::query(&format!(
            "SELECT favorites, likes, dislikes, live_facts FROM {table}
              WHERE tenant = ? AND user_id = ?"
        ))
        .bind(tenant)
        .bind(user_id)
        .fetch_optional(&mut *self.connection)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(FavoriteSummary {
            favorites: sqlite_json(&row, "favorites")?,
            likes: sqlite_json(&row, "likes")?,
            dislikes: sqlite_json(&row, "dislikes")?,
            live_facts: row.try_get("live_facts")?,
        }))
    }

    async fn put_favorite_summary(
        &mut self,
        tables: TableSet,
        row: &SummaryRow,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("user_favorite_summary");
        let sql = format!(
            "INSERT INTO {table} (tenant, user_id, favorites, likes, dislikes,
                live_facts, last_changed_at, global_position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (tenant, user_id) DO UPDATE SET favorites = ?3, likes = ?4,
                dislikes = ?5, live_facts = ?6, last_changed_at = ?7, global_position = ?8"
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
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM {table} WHERE tenant = ? AND job_id = ?"
        ))
        .bind(tenant)
        .bind(job_id.hyphenated().to_string())
        .fetch_optional(&mut *self.connection)
        .await?;
        Ok(row.map(|row| job_record(&row)).transpose()?)
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (tenant, job_id) DO UPDATE SET status = ?4, attempts = ?5,
                last_error = ?6, started_at = ?9, finished_at = ?10, added = ?11, updated = ?12,
                retracted = ?13, unchanged = ?14, global_position = ?15"
        );
        let statement = sqlx::query(&sql)
            .bind(&row.tenant)
            .bind(row.job_id.hyphenated().to_string());
        bind_job_record(statement, record)
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (tenant, job_id, message_index) DO NOTHING"
        );
        for row in rows {
            bind_episode_row(sqlx::query(&sql), row, |id| id.hyphenated().to_string())
                .execute(&mut *self.connection)
                .await?;
        }
        Ok(())
    }

    /// SQLite has no sha256: the texts' digests are taken here, as the live path takes them.
    async fn forget_facts(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError> {
        let table = tables.name("facts");
        let facts: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT key, text FROM {table} WHERE tenant = ? AND user_id = ?"
        ))
        .bind(tenant)
        .bind(user_id)
        .fetch_all(&mut *self.connection)
        .await?;
        for digest in facts
            .iter()
            .flat_map(|(key, text)| fact_cache_keys(key, text))
        {
            sqlx::query("DELETE FROM embedding_cache WHERE text_sha256 = ?")
                .bind(digest)
                .execute(&mut *self.connection)
                .await?;
        }
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
               (SELECT content_sha256 FROM {table} WHERE tenant = ? AND user_id = ?)"
        ))
        .bind(tenant)
        .bind(user_id)
        .execute(&mut *self.connection)
        .await?;
        self.delete_user_rows(&table, tenant, user_id).await
    }

    /// One statement a row: SQLite inserts inside one transaction are cheap, and the embedded
    /// file holds one deployment's data, not a cluster's.
    async fn bulk_facts(
        &mut self,
        tables: TableSet,
        rows: Vec<FactRow>,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("facts");
        for row in &rows {
            self.insert_fact(&table, &row.tenant, &row.record, row.position)
                .await?;
        }
        Ok(rows.len() as u64)
    }

    async fn bulk_summaries(
        &mut self,
        tables: TableSet,
        rows: Vec<SummaryRow>,
    ) -> Result<u64, ProjectionError> {
        for row in &rows {
            self.put_favorite_summary(tables, row).await?;
        }
        Ok(rows.len() as u64)
    }

    async fn bulk_jobs(
        &mut self,
        tables: TableSet,
        rows: Vec<ExtractionJobRow>,
    ) -> Result<u64, ProjectionError> {
        for row in &rows {
            self.put_job(tables, row).await?;
        }
        Ok(rows.len() as u64)
    }

    async fn bulk_episodes(
        &mut self,
        tables: TableSet,
        rows: Vec<EpisodeRow>,
    ) -> Result<u64, ProjectionError> {
        self.put_episodes(tables, &rows).await?;
        Ok(rows.len() as u64)
    }
}
