-- The backfill has no undo: the column goes with the previous migration's down.
SELECT 1;
