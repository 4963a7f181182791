-- Down step: restores the schema as it was before the up step (the foreign key is checked
-- against every event again as it is added).
DROP TRIGGER tenants_never_removed ON tenants;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id);
