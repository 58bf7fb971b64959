-- The satisfaction survey: when the question went out (once per ticket), and the
-- customer's answer — a score from 1 to 5, what else they wrote, when.
ALTER TABLE tickets
    ADD COLUMN survey_sent_at TIMESTAMPTZ,
    ADD COLUMN rating_score SMALLINT CHECK (rating_score BETWEEN 1 AND 5),
    ADD COLUMN rating_comment TEXT,
    ADD COLUMN rated_at TIMESTAMPTZ,
    ADD CONSTRAINT tickets_rating_whole CHECK ((rating_score IS NULL) = (rated_at IS NULL));
