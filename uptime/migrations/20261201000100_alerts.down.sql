DROP TABLE alerts;
DROP TABLE webhooks;
