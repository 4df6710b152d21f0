-- Waits until this session sees a setting changed by ALTER SYSTEM and pg_reload_conf(), in
-- place of a fixed sleep: after the reload the postmaster signals every backend, and a backend
-- reads the changed file between statements, never during one, so each try is a statement of
-- its own (this file includes itself). Bounded: after 300 tries (about 6 s) it fails, naming
-- the setting, the value wanted and the value seen.
-- Usage, with ON_ERROR_STOP (pg_prove sets it):
--   ALTER SYSTEM SET hublink.party = 'hub';
--   SELECT pg_reload_conf();
--   \set wait_setting hublink.party
--   \set wait_value hub
--   \ir include/wait_setting.sql
\if :{?wait_tries}
\else
\set wait_tries 0
\endif
SELECT current_setting(:'wait_setting', true) IS NOT DISTINCT FROM :'wait_value' AS wait_done,
       :wait_tries >= 300 AS wait_over, :wait_tries + 1 AS wait_tries \gset
\if :wait_done
\unset wait_tries
\elif :wait_over
\unset wait_tries
SELECT set_config('hublink_test.wait_error',
                  format('setting %s did not become "%s" in this session within 300 tries (about 6 s) of pg_reload_conf(): it is "%s"',
                         :'wait_setting', :'wait_value', current_setting(:'wait_setting', true)), false);
DO $$ BEGIN RAISE EXCEPTION '%', current_setting('hublink_test.wait_error'); END $$;
\else
SELECT pg_sleep(0.02);
\ir wait_setting.sql
\endif
