-- A finished job's row is deleted when it finishes (it kept nothing anyone reads, and cost a
-- row version, its index entries and a later delete): the table holds live and dead jobs
-- only, small enough that counting them by status needs no index of its own.
DELETE FROM jobs WHERE status = 'done';
DROP INDEX jobs_status_kind;
