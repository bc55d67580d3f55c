DROP TABLE alert_subscriptions;
DROP TABLE alert_texts;
DROP TABLE alert_libraries;
