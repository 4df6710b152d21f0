-- Last of the install script: row-level security and grants on every table and view that the
-- parts before created (91_access_policy.sql). A part that sorts after this one, or an upgrade
-- script, that adds tables or views runs SELECT hublink.apply_access_policy() itself.
SELECT hublink.apply_access_policy();
