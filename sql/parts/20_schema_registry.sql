-- The schema registry (issue 2, section 6). Schemas are data: a new version is registered
-- with hublink.register_schema() without a rebuild. Every change to these tables makes every
-- backend drop its compiled schemas (see extension/schema_cache.c).

CREATE TABLE hublink.schema_document (
    uri           text PRIMARY KEY CHECK (uri ~ '^[a-z][a-z0-9+.-]*:'),
    document      jsonb NOT NULL CHECK (jsonb_typeof(document) IN ('object', 'boolean')),
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE hublink.schema_document IS
    'JSON documents reachable by $ref from any schema, by absolute URI (shared definitions, the '
    'envelope, test-suite remotes). Message schemas are reachable by their $id without a row here.';
COMMENT ON COLUMN hublink.schema_document.uri IS 'Absolute URI the document is known by.';
COMMENT ON COLUMN hublink.schema_document.document IS 'The JSON Schema document.';
COMMENT ON COLUMN hublink.schema_document.registered_at IS 'When it was registered.';
COMMENT ON COLUMN hublink.schema_document.registered_by IS 'Who registered it.';

CREATE TABLE hublink.message_schema (
    message_type   text NOT NULL REFERENCES hublink.message_type,
    schema_version text NOT NULL CHECK (schema_version ~ '^[0-9]+\.[0-9]+$'),
    schema         jsonb NOT NULL CHECK (jsonb_typeof(schema) = 'object'),
    active         boolean NOT NULL DEFAULT true,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    registered_by  text NOT NULL DEFAULT current_user,
    PRIMARY KEY (message_type, schema_version)
);
COMMENT ON TABLE hublink.message_schema IS
    'The JSON Schema of each message type and version; hublink.validate_message() picks the row '
    'from the message''s messageType and schemaVersion.';
COMMENT ON COLUMN hublink.message_schema.message_type IS 'The envelope''s messageType.';
COMMENT ON COLUMN hublink.message_schema.schema_version IS 'The envelope''s schemaVersion, major.minor.';
COMMENT ON COLUMN hublink.message_schema.schema IS 'The JSON Schema (draft 2020-12 or draft-07).';
COMMENT ON COLUMN hublink.message_schema.active IS
    'Messages of an inactive version are rejected as unsupported.';
COMMENT ON COLUMN hublink.message_schema.registered_at IS 'When it was registered.';
COMMENT ON COLUMN hublink.message_schema.registered_by IS 'Who registered it.';

CREATE FUNCTION hublink.schema_registry_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_schema_registry_changed';
COMMENT ON FUNCTION hublink.schema_registry_changed() IS
    'Statement trigger: makes every backend drop its compiled schemas after a registry change.';

CREATE FUNCTION hublink.schema_cache_stats(OUT registry_loads bigint, OUT message_compiles bigint,
                                           OUT message_hits bigint)
    RETURNS record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_schema_cache_stats';
COMMENT ON FUNCTION hublink.schema_cache_stats() IS
    'This backend''s compiled-schema cache since it started: how often the registry was loaded '
    '(after a start or a registry change), how many message schemas were compiled, and how many '
    'were found already compiled. Tells a cache hit from a recompile (test/sql/05_cache_across_backends.sql).';

CREATE TRIGGER schema_document_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hublink.schema_document
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.schema_registry_changed();
COMMENT ON TRIGGER schema_document_changed ON hublink.schema_document IS
    'Invalidates compiled schemas in every backend.';
CREATE TRIGGER message_schema_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hublink.message_schema
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.schema_registry_changed();
COMMENT ON TRIGGER message_schema_changed ON hublink.message_schema IS
    'Invalidates compiled schemas in every backend.';

CREATE FUNCTION hublink.jsonschema_is_valid(schema jsonb, instance jsonb) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_jsonschema_is_valid';
COMMENT ON FUNCTION hublink.jsonschema_is_valid(jsonb, jsonb) IS
    'True when instance is valid against schema (draft 2020-12, or draft-07 by its $schema). '
    '$refs to absolute URIs resolve to registered documents.';

CREATE FUNCTION hublink.jsonschema_errors(schema jsonb, instance jsonb) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_jsonschema_errors';
COMMENT ON FUNCTION hublink.jsonschema_errors(jsonb, jsonb) IS
    'The problems of instance against schema: an array of {instanceLocation, keywordLocation, '
    'error}, empty when valid.';

CREATE FUNCTION hublink.validate_message(message jsonb) RETURNS jsonb
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_validate_message';
COMMENT ON FUNCTION hublink.validate_message(jsonb) IS
    'Validates a message against the active schema of its messageType and schemaVersion; returns '
    'an array of {instanceLocation, keywordLocation, error}, empty when valid.';

CREATE FUNCTION hublink.validate_message_text(message text) RETURNS jsonb
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_validate_message_raw';
COMMENT ON FUNCTION hublink.validate_message_text(text) IS
    'As validate_message, for text that may not be JSON at all (as it came off the broker): '
    'parse failures and limits are reported as problems, not raised.';

CREATE FUNCTION hublink.check_schema(schema jsonb) RETURNS void
    LANGUAGE c STABLE STRICT
    AS 'MODULE_PATHNAME', 'hublink_check_schema';
COMMENT ON FUNCTION hublink.check_schema(jsonb) IS
    'Raises an error unless the schema compiles and all its $refs resolve.';

CREATE FUNCTION hublink.register_schema_document(uri text, document jsonb) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        INSERT INTO hublink.schema_document (uri, document)
        VALUES (register_schema_document.uri, register_schema_document.document)
        ON CONFLICT ON CONSTRAINT schema_document_pkey
        DO UPDATE SET document = excluded.document, registered_at = now(),
                      registered_by = current_user;
    END;
COMMENT ON FUNCTION hublink.register_schema_document(text, jsonb) IS
    'Makes a JSON document reachable by $ref under uri from any schema; replaces an earlier one.';

CREATE FUNCTION hublink.register_schema(message_type text, schema_version text, schema jsonb,
                                        active boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM hublink.check_schema(schema);
    INSERT INTO hublink.message_schema (message_type, schema_version, schema, active)
    VALUES (register_schema.message_type, register_schema.schema_version,
            register_schema.schema, register_schema.active)
    ON CONFLICT ON CONSTRAINT message_schema_pkey
    DO UPDATE SET schema = excluded.schema, active = excluded.active,
                  registered_at = now(), registered_by = current_user;
END;
$$;
COMMENT ON FUNCTION hublink.register_schema(text, text, jsonb, boolean) IS
    'Registers (or replaces) the schema of a message type and version, after checking it compiles.';

-- Installs a shipped schema file: message schemas by their type, the rest as documents. Run by
-- the install script and again by every update script (scripts/build-install-sql): a schema that
-- is already there unchanged is left alone (no registry invalidation, no audit row), a changed
-- one is replaced, a new one added. A site's own schemas, of other versions, are never touched.
CREATE FUNCTION hublink.install_shipped_schema(schema_name text, schema jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    message_type text;
BEGIN
    -- A restore brings the schemas as they were in the dump (hublink.restore_prepare).
    IF pg_catalog.current_setting('hublink.restoring', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT t.message_type INTO message_type
      FROM hublink.message_type t WHERE t.schema_name = install_shipped_schema.schema_name;
    IF message_type IS NULL THEN
        IF NOT EXISTS (SELECT FROM hublink.schema_document d
                        WHERE d.uri = schema->>'$id' AND d.document = schema) THEN
            PERFORM hublink.register_schema_document(schema->>'$id', schema);
        END IF;
    ELSE
        -- The version is the last segment of the $id: https://.../schemas/<name>/<version>
        INSERT INTO hublink.message_schema AS m (message_type, schema_version, schema)
        VALUES (message_type, substring(schema->>'$id' from '/([0-9]+\.[0-9]+)$'), schema)
        ON CONFLICT ON CONSTRAINT message_schema_pkey
        DO UPDATE SET schema = excluded.schema, registered_at = now(), registered_by = current_user
        WHERE m.schema IS DISTINCT FROM excluded.schema;
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.install_shipped_schema(text, jsonb) IS
    'Used by the install and update scripts to load the schemas shipped in schemas/: adds a new '
    'one, replaces a changed one, leaves an unchanged one alone. Does nothing while a dump is '
    'restored (hublink.restoring): the dump holds the schemas.';

CREATE FUNCTION hublink.validate_message_bytes(message bytea) RETURNS jsonb
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'hublink_validate_message_raw';
COMMENT ON FUNCTION hublink.validate_message_bytes(bytea) IS
    'As validate_message, for raw bytes exactly as a broker delivered them: invalid UTF-8, text '
    'that is not JSON and documents over the limits are reported as problems, not raised.';
