-- How long each job took, from fetching the original to recording its
-- variants: /api/stats reads the recent ones. NULL for jobs done before.
ALTER TABLE imaged_jobs ADD COLUMN duration_ms BIGINT NULL;
