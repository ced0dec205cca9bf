-- A reading is one vehicle's PID at one instant, stored once however often its ingest is sent
-- (a client retrying after an answer lost with a node, a bridge re-sending after a timeout).
-- Earlier duplicates go first; then the history index becomes unique (the same columns, so
-- keeping it costs what it did).
DELETE FROM telemetry a USING telemetry b
 WHERE a.ctid > b.ctid AND a.vehicle_id = b.vehicle_id AND a.pid = b.pid AND a.captured_at = b.captured_at;
DROP INDEX idx_telemetry_vehicle_pid_time;
CREATE UNIQUE INDEX idx_telemetry_vehicle_pid_time ON telemetry (vehicle_id, pid, captured_at);
