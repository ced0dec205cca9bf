-- The fleet alert feed now records the alerts it streamed (processed_events, reader
-- 'fleet-alert-feed') and the delivery audit republishes an alert it never received. Alerts
-- published before that count as streamed: the audit must not send the whole history again.
INSERT INTO processed_events (consumer, event_id)
SELECT 'fleet-alert-feed', event_id FROM vehicle_alert_outbox WHERE processed_at IS NOT NULL
ON CONFLICT DO NOTHING;
