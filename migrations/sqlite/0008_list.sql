-- The image list filtered by status, newest first (GET /api/images):
-- MySQL's index on status holds the primary key already.
CREATE INDEX imaged_jobs_status_image ON imaged_jobs (status, image_id);
