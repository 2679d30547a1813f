-- pg_buildkite--1.0.sql: the buildkite schema's view of token sessions.
\echo Use "CREATE EXTENSION pg_buildkite" to load this file. \quit

CREATE FUNCTION buildkite.preloaded() RETURNS void
    AS 'MODULE_PATHNAME', 'pg_buildkite_preloaded'
    LANGUAGE C STRICT;
-- Refuses to install where the postmaster did not load the library.
SELECT buildkite.preloaded();
DROP FUNCTION buildkite.preloaded();

CREATE FUNCTION buildkite.sessions(
    OUT pid integer, OUT role text, OUT pipeline text, OUT branch text,
    OUT step text, OUT build_number bigint, OUT job_id text,
    OUT agent_id text, OUT rule text, OUT jti text,
    OUT authenticated_at timestamptz, OUT token_expires_at timestamptz,
    OUT session_ends_at timestamptz, OUT organization text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'pg_buildkite_sessions'
    LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW buildkite.sessions AS SELECT * FROM buildkite.sessions();

COMMENT ON VIEW buildkite.sessions IS
    'One row per live session opened with a Buildkite token; join pg_stat_activity and pg_locks on pid.';

-- Superusers and pg_read_all_stats only, as pg_stat_activity's details.
REVOKE ALL ON FUNCTION buildkite.sessions() FROM PUBLIC;
REVOKE ALL ON buildkite.sessions FROM PUBLIC;
GRANT EXECUTE ON FUNCTION buildkite.sessions() TO pg_read_all_stats;
GRANT SELECT ON buildkite.sessions TO pg_read_all_stats;
GRANT USAGE ON SCHEMA buildkite TO pg_read_all_stats;
