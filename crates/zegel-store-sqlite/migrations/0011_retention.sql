-- Retention per organisation (issue 14): how long a new message stays available when its
-- sender chooses nothing, and the longest a sender may choose or extend to (counted from the
-- sending). NULL: the installation's ZEGEL_DEFAULT_EXPIRY_DAYS / ZEGEL_MAX_EXPIRY_DAYS.
-- Additive only. Keep in step with the other store's migrations/0011_retention.sql.
ALTER TABLE organisations ADD COLUMN default_availability_days INTEGER
    CHECK (default_availability_days IS NULL OR default_availability_days > 0);
ALTER TABLE organisations ADD COLUMN max_availability_days INTEGER
    CHECK (max_availability_days IS NULL OR max_availability_days > 0);
