//! The Postgres migrations applied over data an earlier release wrote, as an upgrade does.

use pika_commands::postgres::MIGRATOR;
use pika_domain::{vector_from_bytes, vector_to_bytes};
use pika_tests::TestDatabase;

/// The first migration that stores vectors as bytes.
const VECTORS_AS_BYTES: i64 = 20261124000005;

/// Vectors written as `real[]` come out of `vectors_as_bytes` as the little-endian bytes the
/// readers decode; a fact without a vector keeps none.
#[tokio::test]
async fn vectors_stored_as_arrays_become_the_bytes_readers_decode() {
    let database = TestDatabase::empty().await;
    let pool = database.pool(1).await;
    for migration in MIGRATOR.iter().filter(|m| m.version < VECTORS_AS_BYTES) {
        sqlx::raw_sql(&migration.sql).execute(&pool).await.unwrap();
    }
    let vector: Vec<f32> = vec![1.0, -2.5, 0.1, f32::MIN_POSITIVE, 3.25e7];
    sqlx::query(
        "INSERT INTO embedding_cache (text_sha256, model, vector) VALUES ('\\x01', 'm', $1)",
    )
    .bind(&vector)
    .execute(&pool)
    .await
    .unwrap();
    for (fact, embedding) in [(1, Some(vector.clone())), (2, None)] {
        sqlx::query(
            "INSERT INTO facts (tenant, user_id, fact_id, key, kind, value, text, confidence,
                                language, version, created_at, updated_at, embedding,
                                embedding_model, global_position)
             VALUES ('t', 'u', $1, 'likes.food', 'preference', 'pho', 'likes pho', 1, 'en', 1,
                     now(), now(), $2, 'm', $3)",
        )
        .bind(uuid::Uuid::from_u128(fact))
        .bind(embedding)
        .bind(i64::try_from(fact).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }

    // The migrator has no record of the migrations applied above and runs them again: they
    // are written to be idempotent (IF NOT EXISTS), so only `vectors_as_bytes` changes data.
    MIGRATOR.run(&pool).await.unwrap();

    let cached: Vec<u8> = sqlx::query_scalar("SELECT vector FROM embedding_cache")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(cached, vector_to_bytes(&vector));
    let stored: Vec<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT embedding FROM facts ORDER BY global_position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored[0].as_deref().map(vector_from_bytes), Some(vector));
    assert_eq!(stored[1], None);
}
