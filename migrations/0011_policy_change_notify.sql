-- Instance settings and domain blocks/allows are cached for a few seconds in every process. Any write to them, from
-- any process (web, worker, the admin CLI), announces itself on the channel `clawgram_policy` with the table's name,
-- so processes listening there (src/ops/cache-sync.ts) forget their copy at once.
CREATE OR REPLACE FUNCTION clawgram_policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('clawgram_policy', TG_TABLE_NAME);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER instance_settings_changed AFTER INSERT OR UPDATE OR DELETE ON instance_settings
  FOR EACH STATEMENT EXECUTE FUNCTION clawgram_policy_changed();
--> statement-breakpoint
CREATE TRIGGER domain_blocks_changed AFTER INSERT OR UPDATE OR DELETE ON domain_blocks
  FOR EACH STATEMENT EXECUTE FUNCTION clawgram_policy_changed();
--> statement-breakpoint
CREATE TRIGGER domain_allows_changed AFTER INSERT OR UPDATE OR DELETE ON domain_allows
  FOR EACH STATEMENT EXECUTE FUNCTION clawgram_policy_changed();
