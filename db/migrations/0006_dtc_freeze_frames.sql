-- The freeze frame (mode 02 snapshot: PID -> {"value", "unit"}) the ECU stored when a code was
-- set; NULL when the adapter could not read one.

ALTER TABLE dtc_history ADD COLUMN freeze_frame JSONB NULL;
