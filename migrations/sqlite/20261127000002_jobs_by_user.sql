-- A user's jobs, newest first (`GET /v1/users/{user_id}/jobs`, the Inspector's job list),
-- without scanning the tenant's jobs.
CREATE INDEX IF NOT EXISTS extraction_jobs_by_user
    ON extraction_jobs (tenant, user_id, submitted_at DESC);
