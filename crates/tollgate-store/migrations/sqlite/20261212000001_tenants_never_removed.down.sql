-- Down step: restores the schema as it was before the up step.
DROP TRIGGER tenants_never_removed;
