-- Vectors as little-endian f32 bytes (the embedded store's form), not real[]: a real[] is sent
-- element by element (float4send per value) and decoded so by the client, about 20 µs per
-- 384-value vector on each side, measured; a search after a user's change reloads all their
-- vectors, so at 1,000 facts that was most of a 50 ms answer. bytea is one copy.
CREATE FUNCTION pg_temp.f32_le_bytes(vector real[]) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT AS
$$
SELECT coalesce(string_agg(substring(b FROM 4 FOR 1) || substring(b FROM 3 FOR 1)
                               || substring(b FROM 2 FOR 1) || substring(b FROM 1 FOR 1),
                           ''::bytea ORDER BY i), ''::bytea)
  FROM unnest(vector) WITH ORDINALITY AS t(v, i), LATERAL float4send(v) AS b
$$;

ALTER TABLE embedding_cache ALTER COLUMN vector TYPE bytea USING pg_temp.f32_le_bytes(vector);
ALTER TABLE facts ALTER COLUMN embedding TYPE bytea USING pg_temp.f32_le_bytes(embedding);
