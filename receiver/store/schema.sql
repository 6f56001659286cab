-- regdeploy database schema.
--
-- Applied by the service at every start inside one transaction that holds an advisory lock, so
-- any number of processes may start at once. Every statement is idempotent. The version below is
-- recorded in schema_version; a later change bumps it and adds its own idempotent statements
-- (ALTER ... ADD COLUMN IF NOT EXISTS, CREATE INDEX IF NOT EXISTS) at the end of this file.
--
-- schema-version: 11 (1: events, tags, rejected_payloads; 2: repositories, deployments, leases;
-- 3: notices; 4: event attempts, adopted decisions; 5: which process recorded each event;
-- 6: console sessions; 7: release control; 8: rejected bodies kept as a prefix, their size and
-- digest, pruned per source; 9: the processes running and the configuration each runs; 10: trust
-- checks; 11: rollouts)

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


-- Watched repositories, seeded from the configuration. ``overrides`` names the fields the API has
-- changed since, which a later seed from the configuration leaves alone.
CREATE TABLE IF NOT EXISTS repositories (
    name              text        PRIMARY KEY,
    registry          text        NOT NULL,
    repository        text        NOT NULL,
    pinned_tag        text        NOT NULL DEFAULT '',
    auto_deploy       boolean     NOT NULL DEFAULT true,
    policy            text        NOT NULL,
    match_prerelease  boolean     NOT NULL DEFAULT true,
    filters           jsonb       NOT NULL DEFAULT '[]',
    targets           jsonb       NOT NULL DEFAULT '[]',
    notify            jsonb       NOT NULL DEFAULT '[]',
    overrides         text[]      NOT NULL DEFAULT '{}',
    active            boolean     NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS repositories_image ON repositories (registry, repository);

-- Every change made through the API: who, when, old -> new.
CREATE TABLE IF NOT EXISTS repository_audit (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL,
    actor       text        NOT NULL,
    field       text        NOT NULL,
    old_value   jsonb,
    new_value   jsonb,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per decision about one target: a deployment intent and its fate, or a skip.
CREATE TABLE IF NOT EXISTS deployments (
    id              bigserial   PRIMARY KEY,
    target_key      text        NOT NULL,
    target          jsonb       NOT NULL,
    repository_name text,
    registry        text        NOT NULL,
    repository      text        NOT NULL,
    tag             text        NOT NULL,
    digest          text        NOT NULL,
    previous_image  text,
    reason          text        NOT NULL,
    trigger         text        NOT NULL,
    event_id        bigint      REFERENCES events (id),
    status          text        NOT NULL CHECK (status IN (
                        'planned', 'running', 'succeeded', 'failed', 'rolled_back',
                        'superseded', 'conflict', 'dry_run', 'skipped')),
    message         text,
    attempts        integer     NOT NULL DEFAULT 0,
    not_before      timestamptz NOT NULL DEFAULT now(),
    claimed_by      text,
    heartbeat_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- At most one queued intent per (target, digest), and one running deploy per target.
CREATE UNIQUE INDEX IF NOT EXISTS deployments_one_planned
    ON deployments (target_key, digest) WHERE status = 'planned';
CREATE UNIQUE INDEX IF NOT EXISTS deployments_one_running
    ON deployments (target_key) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS deployments_queue
    ON deployments (not_before, id) WHERE status = 'planned';
CREATE INDEX IF NOT EXISTS deployments_by_target ON deployments (target_key, id DESC);
CREATE INDEX IF NOT EXISTS deployments_by_repository ON deployments (repository_name, id DESC);

-- Every attempt at a deployment, with its outcome.
CREATE TABLE IF NOT EXISTS deploy_attempts (
    id             bigserial   PRIMARY KEY,
    deployment_id  bigint      NOT NULL REFERENCES deployments (id),
    attempt        integer     NOT NULL,
    worker         text        NOT NULL,
    outcome        text,
    message        text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    UNIQUE (deployment_id, attempt)
);

-- Leases: one holder at a time across processes (the reconciler).
CREATE TABLE IF NOT EXISTS leases (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    expires_at  timestamptz NOT NULL
);


-- 3: who hears about each deployment, and the outbox of notices. A notice is written in the
-- transaction that records the outcome it reports, and sent afterwards with retries.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS notify text[] NOT NULL DEFAULT '{}';
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS started_at timestamptz;

CREATE TABLE IF NOT EXISTS notices (
    id               bigserial   PRIMARY KEY,
    notifier         text        NOT NULL,
    deployment_id    bigint      NOT NULL REFERENCES deployments (id),
    kind             text        NOT NULL CHECK (kind IN ('started', 'outcome')),
    group_key        text        NOT NULL,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    CONSTRAINT notices_once UNIQUE (notifier, deployment_id, kind)
);
CREATE INDEX IF NOT EXISTS notices_due ON notices (next_attempt_at, id) WHERE status = 'pending';


-- 4: an event whose decision fails is tried again after a pause (other repositories' events go
-- ahead meanwhile) and marked failed, with the reason, once its attempts are spent; a target
-- that runs a pushed tag by name only is adopted, not restarted.
ALTER TABLE events ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN IF NOT EXISTS not_before timestamptz NOT NULL DEFAULT now();
ALTER TABLE events ADD COLUMN IF NOT EXISTS reason text;
CREATE INDEX IF NOT EXISTS events_pending_repository
    ON events (registry, repository, id) WHERE status = 'pending';
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_version WHERE version = 4) THEN
        ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
        ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
            'planned', 'running', 'succeeded', 'failed', 'rolled_back', 'superseded',
            'conflict', 'dry_run', 'skipped', 'adopted'));
    END IF;
END
$$;

-- 5: which process stored each event (its worker id; the lease holder for the reconciler's), so
-- that what several processes sharing the database did can be told apart afterwards.
ALTER TABLE events ADD COLUMN IF NOT EXISTS recorded_by text;

INSERT INTO schema_version (version) VALUES (1), (2), (3), (4), (5) ON CONFLICT (version) DO NOTHING;

-- 6: the console's sessions. A browser that signed in with an API token holds a random session id
-- in a cookie; the database keeps only its HMAC under the token's secret, the token's name and
-- scope (never the token), the session's CSRF token and when it expires. A confirmed change is
-- recorded once per form (console_submissions), so that a form sent twice changes nothing the
-- second time.
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash     text        PRIMARY KEY,
    token_name  text        NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('read', 'write')),
    csrf_token  text        NOT NULL,
    flash       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);
CREATE TABLE IF NOT EXISTS console_submissions (
    id_hash       text        NOT NULL REFERENCES console_sessions (id_hash) ON DELETE CASCADE,
    form_token    text        NOT NULL,
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id_hash, form_token)
);
INSERT INTO schema_version (version) VALUES (6) ON CONFLICT (version) DO NOTHING;


-- 7: release control. A decided deploy may wait (status 'waiting') for a deploy window, a
-- cooldown, a settle time, approvals or a freeze, by the rules it was decided with (release);
-- it is then released (planned), rejected, expired or superseded. decided_at and the times
-- waits end come from regdeploy's clock, never from the database's now(). It relies on no other
-- version's statements but 6's console_sessions, whose scopes it extends with 'approve'.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS release jsonb;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS decided_at timestamptz;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS pushed_at timestamptz;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS forced_by text;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS wait_kinds text[] NOT NULL DEFAULT '{}';
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS due_at timestamptz;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS announced boolean NOT NULL DEFAULT false;
-- One waiting deploy per target: a newer decision supersedes it.
CREATE UNIQUE INDEX IF NOT EXISTS deployments_one_waiting
    ON deployments (target_key) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS deployments_waiting ON deployments (due_at, id) WHERE status = 'waiting';

-- Approvals and rejections of waiting deploys: one vote per API token.
CREATE TABLE IF NOT EXISTS deployment_votes (
    deployment_id  bigint      NOT NULL REFERENCES deployments (id),
    actor          text        NOT NULL,
    approve        boolean     NOT NULL,
    comment        text        NOT NULL DEFAULT '',
    voted_at       timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, actor)
);

-- Freezes that are on: scope '' holds every repository, any other a repository by name.
CREATE TABLE IF NOT EXISTS freezes (
    scope   text        PRIMARY KEY,
    reason  text        NOT NULL,
    actor   text        NOT NULL,
    since   timestamptz NOT NULL
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_version WHERE version = 7) THEN
        ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
        ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
            'planned', 'running', 'succeeded', 'failed', 'rolled_back', 'superseded',
            'conflict', 'dry_run', 'skipped', 'adopted', 'waiting', 'rejected', 'expired'));
        ALTER TABLE notices DROP CONSTRAINT IF EXISTS notices_kind_check;
        ALTER TABLE notices ADD CONSTRAINT notices_kind_check
            CHECK (kind IN ('started', 'outcome', 'waiting', 'released'));
        -- An approve-scoped token may sign in to the console to approve and reject.
        ALTER TABLE console_sessions DROP CONSTRAINT IF EXISTS console_sessions_scope_check;
        ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_scope_check
            CHECK (scope IN ('read', 'approve', 'write'));
    END IF;
END
$$;

INSERT INTO schema_version (version) VALUES (7) ON CONFLICT (version) DO NOTHING;

-- Version 8: of a body that could not be used only a prefix is kept (limits.rejected_body_bytes),
-- with the whole body's size and SHA-256; each source keeps its newest rows (retention:), found
-- by this index.
ALTER TABLE rejected_payloads ADD COLUMN IF NOT EXISTS size bigint;
ALTER TABLE rejected_payloads ADD COLUMN IF NOT EXISTS sha256 text;
CREATE INDEX IF NOT EXISTS rejected_payloads_by_source ON rejected_payloads (source, id DESC);
CREATE INDEX IF NOT EXISTS rejected_payloads_by_age ON rejected_payloads (received_at);
-- A hostile source churns this table (each new row drops its oldest): vacuum it after a few
-- hundred dead rows, not a fifth of the table, so that its size stays near what is kept.
ALTER TABLE rejected_payloads SET (autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 200, toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_threshold = 200);

INSERT INTO schema_version (version) VALUES (8) ON CONFLICT (version) DO NOTHING;

-- Version 9: each running regdeploy process (``serve``, ``worker``) says which configuration it
-- runs (its fingerprint, from which file), when it last loaded one, the keys whose change waits
-- for its restart and, if it refused the last file it was asked to reload, when and why; it says
-- so again every few seconds (seen_at, by the database's clock), so that ``regdeploy status``
-- lists those that run now and shows a mismatch.
CREATE TABLE IF NOT EXISTS processes (
    id           text        PRIMARY KEY,
    role         text        NOT NULL CHECK (role IN ('serve', 'worker')),
    config_path  text        NOT NULL,
    fingerprint  text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    loaded_at    timestamptz NOT NULL,
    restart_needed jsonb     NOT NULL DEFAULT '[]',
    refused_at   timestamptz,
    refusal      jsonb,
    seen_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_version (version) VALUES (9) ON CONFLICT (version) DO NOTHING;

-- Version 10: trust checks. A digest a check refuses (a signature, a scan, a platform) ends as
-- 'refused'; what each check said is kept with the deployment (checks). A check that holds a
-- deploy back (an image not scanned yet) makes it wait: since when (held_since, by regdeploy's
-- clock), until when it is looked at again (held_until), why (hold_words) and how often (holds).
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS checks jsonb NOT NULL DEFAULT '[]';
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS held_since timestamptz;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS held_until timestamptz;
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS hold_words text;
-- How many of its attempts were holds (checks that waited), not deploys: retries count the rest.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS holds integer NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS deployments_held ON deployments (digest) WHERE held_until IS NOT NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_version WHERE version = 10) THEN
        ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
        ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
            'planned', 'running', 'succeeded', 'failed', 'rolled_back', 'superseded',
            'conflict', 'dry_run', 'skipped', 'adopted', 'waiting', 'rejected', 'expired',
            'refused'));
    END IF;
END
$$;

INSERT INTO schema_version (version) VALUES (10) ON CONFLICT (version) DO NOTHING;

-- Version 11: rollouts. A push to a repository with a ``rollout:`` (or ``stages:``) moves its
-- targets in waves: one rollouts row per digest and stage, one rollout_waves row per wave, one
-- rollout_targets row per target (its deployment, the image it ran before, the marks its
-- orchestrator reported when the soak started, the rollback deployment if it was rolled back).
-- A deployment of a later wave waits (status 'waiting') with the words of its gate until its
-- wave starts; one whose rollout was rolled back or abandoned before its wave ends 'cancelled'.
-- A completed rollout of a stage that has a next one is promoted to it at promote_at (by
-- regdeploy's clock). Every write of a rollout bumps its version, and a look writes only over the
-- version it read (a newer push or a person changed it meanwhile: the look is dropped). One
-- process advances a rollout at a time (claimed_by until claimed_until, by the database's
-- clock); the times it looks again come from regdeploy's clock.
CREATE TABLE IF NOT EXISTS rollouts (
    id              bigserial   PRIMARY KEY,
    repository_name text        NOT NULL,
    stage           text        NOT NULL DEFAULT '',
    registry        text        NOT NULL,
    repository      text        NOT NULL,
    tag             text        NOT NULL,
    digest          text        NOT NULL,
    event_id        bigint      REFERENCES events (id),
    trigger         text        NOT NULL,
    policy          jsonb       NOT NULL,
    state           text        NOT NULL CHECK (state IN (
                        'running', 'halted', 'rolled_back', 'completed', 'abandoned')),
    wave            integer     NOT NULL DEFAULT 1,
    words           text        NOT NULL DEFAULT '',
    reason          text,
    rolling_back    boolean     NOT NULL DEFAULT false,
    notify          text[]      NOT NULL DEFAULT '{}',
    promoted_from   bigint      REFERENCES rollouts (id),
    forced_by       text,
    promote_at      timestamptz,
    next_look_at    timestamptz NOT NULL,
    verified_at     timestamptz,
    claimed_by      text,
    claimed_until   timestamptz,
    version         integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz
);
CREATE INDEX IF NOT EXISTS rollouts_due ON rollouts (next_look_at)
    WHERE state = 'running' OR rolling_back OR promote_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS rollouts_by_repository ON rollouts (repository_name, stage, id DESC);

CREATE TABLE IF NOT EXISTS rollout_waves (
    rollout_id     bigint      NOT NULL REFERENCES rollouts (id),
    number         integer     NOT NULL,
    state          text        NOT NULL CHECK (state IN (
                       'pending', 'deploying', 'soaking', 'healthy', 'failed')),
    started_at     timestamptz,
    settled_at     timestamptz,
    healthy_since  timestamptz,
    finished_at    timestamptz,
    PRIMARY KEY (rollout_id, number)
);

CREATE TABLE IF NOT EXISTS rollout_targets (
    rollout_id      bigint      NOT NULL REFERENCES rollouts (id),
    target_key      text        NOT NULL,
    target          jsonb       NOT NULL,
    wave            integer     NOT NULL,
    deployment_id   bigint      REFERENCES deployments (id),
    previous_image  text,
    rollback_id     bigint      REFERENCES deployments (id),
    marks           text,
    health          text,
    PRIMARY KEY (rollout_id, target_key)
);

ALTER TABLE deployments ADD COLUMN IF NOT EXISTS rollout_id bigint REFERENCES rollouts (id);
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS gate text;
CREATE INDEX IF NOT EXISTS deployments_by_rollout ON deployments (rollout_id)
    WHERE rollout_id IS NOT NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM schema_version WHERE version = 11) THEN
        ALTER TABLE deployments DROP CONSTRAINT IF EXISTS deployments_status_check;
        ALTER TABLE deployments ADD CONSTRAINT deployments_status_check CHECK (status IN (
            'planned', 'running', 'succeeded', 'failed', 'rolled_back', 'superseded',
            'conflict', 'dry_run', 'skipped', 'adopted', 'waiting', 'rejected', 'expired',
            'refused', 'cancelled'));
        ALTER TABLE notices DROP CONSTRAINT IF EXISTS notices_kind_check;
        ALTER TABLE notices ADD CONSTRAINT notices_kind_check CHECK (kind IN (
            'started', 'outcome', 'waiting', 'released', 'rollout_started', 'rollout_halted',
            'rollout_rolled_back', 'rollout_completed'));
    END IF;
END
$$;

INSERT INTO schema_version (version) VALUES (11) ON CONFLICT (version) DO NOTHING;
