DROP TABLE event_webhook_attempts;
