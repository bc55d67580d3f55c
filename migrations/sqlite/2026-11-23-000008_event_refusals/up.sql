-- An event the webhook refused (a 4xx that retrying cannot change) is set aside so the
-- events after it are delivered; it stays in the log (GET /events) for the consumer.
ALTER TABLE oob_events ADD COLUMN refused_at BIGINT;
