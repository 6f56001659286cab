-- regdeploy database schema.
--
-- Applied by the service at every start inside one transaction that holds an advisory lock, so
-- any number of processes may start at once. Every statement is idempotent. The version below is
-- recorded in schema_version; a later change bumps it and adds its own idempotent statements
-- (ALTER ... ADD COLUMN IF NOT EXISTS, CREATE INDEX IF NOT EXISTS) at the end of this file.
--
-- schema-version: 1

CREATE TABLE IF NOT EXISTS schema_version (
    version     integer     PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per deploy-relevant registry event, deduplicated on the source's event id.
CREATE TABLE IF NOT EXISTS events (
    id           bigserial   PRIMARY KEY,
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    action       text        NOT NULL CHECK (action IN ('push', 'delete')),
    registry     text        NOT NULL,
    repository   text        NOT NULL,
    tag          text,
    digest       text,
    media_type   text,
    actor        text,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    CONSTRAINT events_source_event_id UNIQUE (source, event_id),
    CONSTRAINT events_has_target CHECK (tag IS NOT NULL OR digest IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS events_repository ON events (registry, repository, id DESC);
CREATE INDEX IF NOT EXISTS events_pending ON events (id) WHERE status = 'pending';

-- What each tag of each repository points at now, as told by the registry's notifications.
CREATE TABLE IF NOT EXISTS tags (
    registry    text        NOT NULL,
    repository  text        NOT NULL,
    tag         text        NOT NULL,
    digest      text        NOT NULL,
    media_type  text,
    pushed_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (registry, repository, tag)
);
CREATE INDEX IF NOT EXISTS tags_digest ON tags (registry, repository, digest);

-- Authenticated notifications (or parts of them) that could not be used, kept for inspection.
CREATE TABLE IF NOT EXISTS rejected_payloads (
    id            bigserial   PRIMARY KEY,
    source        text        NOT NULL,
    reason        text        NOT NULL,
    content_type  text,
    body          bytea       NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_version (version) VALUES (1) ON CONFLICT (version) DO NOTHING;
