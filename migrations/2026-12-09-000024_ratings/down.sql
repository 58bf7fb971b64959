ALTER TABLE tickets
    DROP CONSTRAINT tickets_rating_whole,
    DROP COLUMN rated_at,
    DROP COLUMN rating_comment,
    DROP COLUMN rating_score,
    DROP COLUMN survey_sent_at;
