/// The PostgreSQL schema's versions, oldest first: never edit one that has shipped, append a
/// new one. Times are integer milliseconds since the epoch, as in the SQLite store, so both
/// stores share their range arithmetic.
///
/// Built for volume (docs/SCALING.md): `events` is partitioned by day on `time`, so retention
/// drops whole days; an event is unique by `(agent_id, seq, time)` — the partition key must be
/// part of every unique index, and a retried event carries the time it had — which makes the
/// database, not a collector's memory, refuse duplicates from any instance. Indexes are the
/// ones the query API uses: type, user and app each with time; ids for paging; time for ranges.
enum PostgresSchema {
    static let migrations: [String] = [
        """
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            hostname TEXT NOT NULL,
            os TEXT NOT NULL,
            agent_version TEXT NOT NULL,
            enrolled_at BIGINT NOT NULL,
            last_seen BIGINT,
            cert_serial TEXT NOT NULL,
            cert_not_after BIGINT NOT NULL,
            policy_version INTEGER NOT NULL DEFAULT 0,
            spool_depth INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0,
            revoked_at BIGINT
        );
        CREATE INDEX agents_policy_version ON agents (policy_version);
        CREATE TABLE enrollment_tokens (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,
            max_uses INTEGER NOT NULL,
            uses INTEGER NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked_at BIGINT
        );
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT
        );

        CREATE SEQUENCE events_id_seq AS BIGINT;
        CREATE TABLE events (
            id BIGINT NOT NULL DEFAULT nextval('events_id_seq'),
            agent_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            time BIGINT NOT NULL,
            received_at BIGINT NOT NULL,
            type TEXT NOT NULL,
            v INTEGER NOT NULL,
            data JSONB NOT NULL,
            UNIQUE (agent_id, seq, time)
        ) PARTITION BY RANGE (time);
        ALTER SEQUENCE events_id_seq OWNED BY events.id;
        -- Times outside the days that have a partition (a clock years off) land here.
        CREATE TABLE events_default PARTITION OF events DEFAULT;
        CREATE INDEX events_id ON events (id);
        CREATE INDEX events_time ON events (time);
        CREATE INDEX events_type_time ON events (type, time);
        CREATE INDEX events_user_time ON events ((data->>'user'), time);
        CREATE INDEX events_app_time ON events ((data->>'app'), time);

        CREATE TABLE audit (
            id BIGSERIAL PRIMARY KEY,
            time BIGINT NOT NULL,
            actor TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX audit_actor ON audit (actor, id);
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
        CREATE TRIGGER audit_append_only_rows BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

        CREATE TABLE inventory_apps (
            app_id TEXT PRIMARY KEY,
            category TEXT,
            risk DOUBLE PRECISION NOT NULL DEFAULT 0,
            first_seen BIGINT,
            last_seen BIGINT,
            events BIGINT NOT NULL DEFAULT 0,
            devices INTEGER NOT NULL DEFAULT 0,
            users INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'unreviewed',
            state_reason TEXT,
            state_changed_by TEXT,
            state_changed_at BIGINT
        );
        CREATE TABLE inventory_devices (
            app_id TEXT NOT NULL, agent_id TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, events BIGINT NOT NULL,
            PRIMARY KEY (app_id, agent_id)
        );
        CREATE INDEX inventory_devices_agent ON inventory_devices (agent_id);
        CREATE INDEX inventory_devices_recent ON inventory_devices (app_id, last_seen);
        CREATE TABLE inventory_users (
            app_id TEXT NOT NULL, "user" TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, events BIGINT NOT NULL,
            PRIMARY KEY (app_id, "user")
        );
        CREATE INDEX inventory_users_user ON inventory_users ("user");
        CREATE INDEX inventory_users_recent ON inventory_users (app_id, last_seen);
        CREATE TABLE inventory_counts (
            app_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, events BIGINT NOT NULL,
            PRIMARY KEY (app_id, kind, key)
        );

        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            event_id BIGINT NOT NULL,
            time BIGINT NOT NULL,
            updated BIGINT NOT NULL,
            type TEXT NOT NULL,
            action TEXT NOT NULL,
            activity TEXT, app TEXT, category TEXT, "user" TEXT, rule TEXT,
            findings TEXT NOT NULL,
            file TEXT,
            file_sha256 TEXT,
            justification TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            status_changed_by TEXT,
            status_changed_at BIGINT
        );
        CREATE INDEX incidents_time ON incidents (time);
        CREATE INDEX incidents_status ON incidents (status, time);
        CREATE INDEX incidents_user ON incidents ("user", time);
        CREATE TABLE incident_notes (
            id BIGSERIAL PRIMARY KEY,
            incident_id TEXT NOT NULL,
            time BIGINT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX incident_notes_incident ON incident_notes (incident_id, id);

        CREATE TABLE exceptions (
            id TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            "user" TEXT,
            app TEXT,
            agent_id TEXT,
            until BIGINT NOT NULL,
            reason TEXT NOT NULL,
            ticket TEXT,
            incident TEXT,
            file_sha256 TEXT,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            revoked_by TEXT,
            revoked_at BIGINT
        );
        CREATE INDEX exceptions_until ON exceptions (until);

        CREATE TABLE policies (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            yaml TEXT NOT NULL,
            comment TEXT NOT NULL,
            restores INTEGER,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE TABLE siem_cursors (destination TEXT PRIMARY KEY, event_id BIGINT NOT NULL, updated BIGINT NOT NULL);
        """,
        """
        -- Web console sessions, shared by every collector; a revoked token ends its sessions.
        CREATE TABLE console_sessions (id_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, csrf TEXT NOT NULL, expires BIGINT NOT NULL);
        """,
        """
        -- Agents wait for policy changes: a counter each change bumps, which every collector polls.
        CREATE TABLE policy_revision (n BIGINT NOT NULL);
        INSERT INTO policy_revision (n) VALUES (0);
        """,
        """
        -- Collectors hold agent records and re-check only how many are revoked.
        CREATE INDEX agents_revoked ON agents (revoked_at) WHERE revoked_at IS NOT NULL;
        """,
    ]
}
