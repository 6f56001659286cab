-- Every query regdeploy runs, by name. Loaded by receiver/store/connector.py; parameters are
-- always bound.
--
-- Time. Due times that regdeploy sets (a deferred event, a deploy or a notice retried after a
-- backoff, a waiting deploy's next judgement) are written from regdeploy's clock, passed as
-- %(now)s, and something is due once that clock or the database's own passed its due time:
-- `greatest(now(), %(now)s)`, so that a row stamped by the database (new, or released) is due at
-- once whatever the two clocks say, and tests move regdeploy's clock instead of waiting.
-- The database's now() alone judges what must agree across processes: who holds a lease
-- (fencing), whose heartbeat stopped (a stalled deploy), which console session expired; and it
-- stamps when rows were created, updated and finished.

-- name: schema_lock
SELECT pg_advisory_xact_lock(hashtext('regdeploy.schema'));

-- name: schema_table
SELECT to_regclass('schema_version') IS NOT NULL AS present;

-- name: schema_version
SELECT coalesce(max(version), 0) AS version FROM schema_version;

-- name: ping
SELECT 1;

-- name: insert_event
INSERT INTO events (source, event_id, action, registry, repository, tag, digest, media_type,
                    actor, occurred_at, recorded_by)
VALUES (%(source)s, %(event_id)s, %(action)s, %(registry)s, %(repository)s, %(tag)s,
        %(digest)s, %(media_type)s, %(actor)s, %(occurred_at)s, %(recorded_by)s)
ON CONFLICT (source, event_id) DO NOTHING
RETURNING id;

-- name: ingest_pushes
-- A group of pushes in one statement: store the new events (in the order given: by id), move the
-- tags they name (the latest push of each tag; a late redelivery never moves a tag back), wake
-- the workers; the (source, event_id) of the events that were new.
WITH incoming AS (
    SELECT *
      FROM unnest(%(source)s::text[], %(event_id)s::text[], %(action)s::text[],
                  %(registry)s::text[], %(repository)s::text[], %(tag)s::text[],
                  %(digest)s::text[], %(media_type)s::text[], %(actor)s::text[],
                  %(occurred_at)s::timestamptz[], %(recorded_by)s::text[], %(position)s::int[])
           AS i (source, event_id, action, registry, repository, tag, digest, media_type, actor,
                 occurred_at, recorded_by, position)
), inserted AS (
    INSERT INTO events (source, event_id, action, registry, repository, tag, digest, media_type,
                        actor, occurred_at, recorded_by)
    SELECT source, event_id, action, registry, repository, tag, digest, media_type, actor,
           occurred_at, recorded_by
      FROM incoming
    ON CONFLICT (source, event_id) DO NOTHING
    RETURNING source, event_id
), catalog AS (
    INSERT INTO tags (registry, repository, tag, digest, media_type, pushed_at)
    SELECT DISTINCT ON (i.registry, i.repository, i.tag)
           i.registry, i.repository, i.tag, i.digest, i.media_type, i.occurred_at
      FROM incoming i JOIN inserted n ON (n.source, n.event_id) = (i.source, i.event_id)
     ORDER BY i.registry, i.repository, i.tag, i.occurred_at DESC, i.position DESC
    ON CONFLICT (registry, repository, tag) DO UPDATE
       SET digest = EXCLUDED.digest, media_type = EXCLUDED.media_type,
           pushed_at = EXCLUDED.pushed_at, updated_at = now()
     WHERE tags.pushed_at <= EXCLUDED.pushed_at
    RETURNING 1
), woken AS (
    SELECT pg_notify('regdeploy_events', '') FROM (SELECT 1 FROM inserted LIMIT 1) AS new
)
SELECT source, event_id, (SELECT count(*) FROM woken) AS woken FROM inserted;

-- name: upsert_tag
-- A late redelivery of an older push never moves a tag back.
INSERT INTO tags (registry, repository, tag, digest, media_type, pushed_at)
VALUES (%(registry)s, %(repository)s, %(tag)s, %(digest)s, %(media_type)s, %(occurred_at)s)
ON CONFLICT (registry, repository, tag) DO UPDATE
   SET digest = EXCLUDED.digest, media_type = EXCLUDED.media_type,
       pushed_at = EXCLUDED.pushed_at, updated_at = now()
 WHERE tags.pushed_at <= EXCLUDED.pushed_at;

-- name: delete_tag
DELETE FROM tags
 WHERE registry = %(registry)s AND repository = %(repository)s AND tag = %(tag)s
   AND (%(digest)s::text IS NULL OR digest = %(digest)s)
   AND pushed_at <= %(occurred_at)s;

-- name: delete_digest
DELETE FROM tags
 WHERE registry = %(registry)s AND repository = %(repository)s AND digest = %(digest)s
   AND pushed_at <= %(occurred_at)s;

-- name: listen_events
LISTEN regdeploy_events;

-- name: listen_deployments
LISTEN regdeploy_deployments;

-- name: listen_notices
LISTEN regdeploy_notices;

-- name: notify_events
SELECT pg_notify('regdeploy_events', %(source)s);

-- name: insert_rejection
INSERT INTO rejected_payloads (source, reason, content_type, body, size, sha256)
VALUES (%(source)s, %(reason)s, %(content_type)s, %(body)s, %(size)s, %(sha256)s);

-- name: prune_source_rejections
-- The source's rows beyond its newest %(keep)s, after an insert: its rows never pile up between
-- two rounds of the pruner.
DELETE FROM rejected_payloads
 WHERE source = %(source)s
   AND id <= (SELECT id FROM rejected_payloads WHERE source = %(source)s
               ORDER BY id DESC OFFSET %(keep)s LIMIT 1);

-- name: prune_rejections
-- Every source's rows beyond its newest %(keep)s, and every row received before %(before)s.
DELETE FROM rejected_payloads r
 USING (SELECT id, row_number() OVER (PARTITION BY source ORDER BY id DESC) AS newest
          FROM rejected_payloads) ranked
 WHERE r.id = ranked.id AND (ranked.newest > %(keep)s OR r.received_at < %(before)s)
RETURNING r.id;

-- name: list_events
SELECT id, source, event_id, action, registry, repository, tag, digest, media_type, actor,
       occurred_at, received_at, status, attempts, reason
  FROM events
 WHERE (%(repository)s::text IS NULL OR repository = %(repository)s)
   AND (%(source)s::text IS NULL OR source = %(source)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(before)s::bigint IS NULL OR id < %(before)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: list_tags
-- The tags of the first %(limit)s repositories after %(after_registry)s/%(after_repository)s
-- (a page of the catalog, by repository).
WITH page AS (
    SELECT DISTINCT registry, repository FROM tags
     WHERE (registry, repository) > (%(after_registry)s, %(after_repository)s)
     ORDER BY registry, repository
     LIMIT %(limit)s
)
SELECT t.registry, t.repository, t.tag, t.digest, t.media_type, t.pushed_at
  FROM tags t JOIN page USING (registry, repository)
 ORDER BY t.registry, t.repository, t.tag;

-- name: list_rejections
SELECT id, source, reason, content_type, coalesce(size, octet_length(body)) AS size,
       coalesce(sha256, encode(sha256(body), 'hex')) AS sha256, received_at
  FROM rejected_payloads
 WHERE (%(source)s::text IS NULL OR source = %(source)s)
   AND (%(before)s::bigint IS NULL OR id < %(before)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: get_rejection
SELECT id, source, reason, content_type, coalesce(size, octet_length(body)) AS size,
       coalesce(sha256, encode(sha256(body), 'hex')) AS sha256, received_at, body
  FROM rejected_payloads
 WHERE id = %(id)s;

-- name: seed_repository
-- Fields the API changed (listed in overrides) keep the API's value.
INSERT INTO repositories (name, registry, repository, pinned_tag, auto_deploy, policy,
                          match_prerelease, filters, targets, notify, active)
VALUES (%(name)s, %(registry)s, %(repository)s, %(pinned_tag)s, %(auto_deploy)s, %(policy)s,
        %(match_prerelease)s, %(filters)s, %(targets)s, %(notify)s, true)
ON CONFLICT (name) DO UPDATE SET
    registry = EXCLUDED.registry,
    repository = EXCLUDED.repository,
    pinned_tag = CASE WHEN 'pinned_tag' = ANY (repositories.overrides)
                      THEN repositories.pinned_tag ELSE EXCLUDED.pinned_tag END,
    auto_deploy = CASE WHEN 'auto_deploy' = ANY (repositories.overrides)
                       THEN repositories.auto_deploy ELSE EXCLUDED.auto_deploy END,
    policy = CASE WHEN 'policy' = ANY (repositories.overrides)
                  THEN repositories.policy ELSE EXCLUDED.policy END,
    match_prerelease = EXCLUDED.match_prerelease,
    filters = EXCLUDED.filters,
    targets = EXCLUDED.targets,
    notify = EXCLUDED.notify,
    active = true,
    updated_at = now();

-- name: deactivate_repositories
UPDATE repositories SET active = false, updated_at = now()
 WHERE active AND NOT (name = ANY (%(names)s));

-- name: list_repositories
SELECT name, registry, repository, pinned_tag, auto_deploy, policy, match_prerelease, filters,
       targets, notify, overrides, updated_at
  FROM repositories
 WHERE active AND (%(name)s::text IS NULL OR name = %(name)s)
 ORDER BY name;

-- name: repositories_for_image
SELECT name, registry, repository, pinned_tag, auto_deploy, policy, match_prerelease, filters,
       targets, notify, overrides, updated_at
  FROM repositories
 WHERE active AND registry = %(registry)s AND repository = %(repository)s
 ORDER BY name;

-- name: lock_repository
SELECT pinned_tag, auto_deploy, policy FROM repositories
 WHERE name = %(name)s AND active
   FOR UPDATE;

-- name: update_repository
UPDATE repositories
   SET pinned_tag = %(pinned_tag)s, auto_deploy = %(auto_deploy)s, policy = %(policy)s,
       overrides = ARRAY(SELECT DISTINCT unnest(overrides || %(fields)s::text[]) ORDER BY 1),
       updated_at = now()
 WHERE name = %(name)s;

-- name: insert_audit
INSERT INTO repository_audit (name, actor, field, old_value, new_value)
VALUES (%(name)s, %(actor)s, %(field)s, %(old_value)s, %(new_value)s);

-- name: list_audit
SELECT name, actor, field, old_value, new_value, changed_at
  FROM repository_audit
 WHERE name = %(name)s
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: repository_tags
SELECT tag, digest FROM tags
 WHERE registry = %(registry)s AND repository = %(repository)s
 ORDER BY tag;

-- name: repository_catalog
SELECT registry, repository, tag, digest, media_type, pushed_at FROM tags
 WHERE registry = %(registry)s AND repository = %(repository)s
 ORDER BY tag;

-- name: claim_event
-- The oldest due pending event whose repository has no older pending event: the events of one
-- repository are decided in order, one at a time; an event waiting to be tried again holds back
-- the later events of its repository only.
SELECT id, source, event_id, action, registry, repository, tag, digest, media_type, actor,
       occurred_at, received_at, status, attempts, reason
  FROM events e
 WHERE status = 'pending' AND not_before <= greatest(now(), %(now)s)
   AND NOT EXISTS (SELECT 1 FROM events o
                    WHERE o.status = 'pending' AND o.registry = e.registry
                      AND o.repository = e.repository AND o.id < e.id)
 ORDER BY id
 LIMIT 1
   FOR UPDATE SKIP LOCKED;

-- name: claim_repository_events
-- The later pending events of the claimed event's repository, decided together with it.
SELECT id, source, event_id, action, registry, repository, tag, digest, media_type, actor,
       occurred_at, received_at, status, attempts, reason
  FROM events
 WHERE status = 'pending' AND registry = %(registry)s AND repository = %(repository)s
   AND id > %(after)s
 ORDER BY id
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: finish_events
UPDATE events e
   SET status = f.status, reason = f.reason
  FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(reasons)s::text[])
       AS f (id, status, reason)
 WHERE e.id = f.id;

-- name: defer_events
-- Decisions that failed: try again after a pause, or give up once the attempts are spent.
UPDATE events
   SET attempts = attempts + 1, reason = %(reason)s,
       not_before = %(now)s + make_interval(secs => %(seconds)s),
       status = CASE WHEN %(final)s THEN 'failed' ELSE status END
 WHERE id = ANY (%(ids)s::bigint[]) AND status = 'pending'
RETURNING status;

-- name: settle_unused_events
-- Pending deletes, and pending pushes of images no watched repository and no workload in use
-- runs, need no decision: done, with the reason, in bulk.
WITH unused AS (
    SELECT id FROM events e
     WHERE status = 'pending'
       AND (action = 'delete'
            OR (NOT EXISTS (SELECT 1 FROM repositories w
                             WHERE w.active AND w.registry = e.registry
                               AND w.repository = e.repository)
                AND NOT EXISTS (SELECT 1
                                  FROM unnest(%(registries)s::text[], %(repositories)s::text[])
                                       AS u (registry, repository)
                                 WHERE u.registry = e.registry
                                   AND u.repository = e.repository)))
       FOR UPDATE SKIP LOCKED
)
UPDATE events e
   SET status = 'done',
       reason = CASE WHEN e.action = 'delete' THEN 'a delete moves no workload'
                     ELSE 'no watched repository and no opted-in workload uses '
                          || e.registry || '/' || e.repository END
  FROM unused
 WHERE e.id = unused.id
RETURNING e.id;

-- name: next_event_due
SELECT min(not_before) AS due FROM events WHERE status = 'pending';

-- name: insert_deployment
INSERT INTO deployments (target_key, target, repository_name, registry, repository, tag, digest,
                         previous_image, reason, trigger, event_id, status, message, notify,
                         finished_at, release, decided_at, pushed_at, forced_by, wait_kinds,
                         due_at)
VALUES (%(target_key)s, %(target)s, %(repository_name)s, %(registry)s, %(repository)s, %(tag)s,
        %(digest)s, %(previous_image)s, %(reason)s, %(trigger)s, %(event_id)s, %(status)s,
        %(message)s, %(notify)s,
        CASE WHEN %(status)s NOT IN ('planned', 'waiting') THEN now() END,
        %(release)s, %(decided_at)s, %(pushed_at)s, %(forced_by)s, %(wait_kinds)s, %(due_at)s)
ON CONFLICT (target_key, digest) WHERE status = 'planned' DO NOTHING
RETURNING id;

-- name: lock_target
-- Decisions about one target are stored one at a time (what supersedes what is then clear).
SELECT pg_advisory_xact_lock(hashtext('regdeploy.target:' || %(target_key)s));

-- name: queued_intent
-- The queued (planned or waiting) intent of a target for a digest, if any.
SELECT id, status FROM deployments
 WHERE target_key = %(target_key)s AND digest = %(digest)s AND status IN ('planned', 'waiting')
 ORDER BY id DESC
 LIMIT 1;

-- name: supersede_queued
-- A newer decision for a target supersedes its older queued intents of another digest, and
-- (``replace_waiting``: the newer one needs no wait) a waiting one of the same digest.
UPDATE deployments
   SET status = 'superseded', message = %(message)s, updated_at = now(), finished_at = now(),
       due_at = NULL, wait_kinds = '{}'
 WHERE target_key = %(target_key)s
   AND ((status = 'planned' AND digest <> %(digest)s)
        OR (status = 'waiting' AND (digest <> %(digest)s OR %(replace_waiting)s)));

-- name: force_waiting
-- A forced decision for what already waits: it is judged again at once, past the windows.
UPDATE deployments SET forced_by = %(forced_by)s, due_at = %(now)s, updated_at = now()
 WHERE id = %(id)s AND status = 'waiting';

-- name: notify_deployments
SELECT pg_notify('regdeploy_deployments', '');

-- name: claim_deployment
-- The oldest due intent of a target that has no deploy running. The partial unique index on
-- running deployments makes a race between two workers for one target fail, not double up.
WITH next AS (
    SELECT d.id FROM deployments d
     WHERE d.status = 'planned' AND d.not_before <= greatest(now(), %(now)s)
       AND NOT EXISTS (SELECT 1 FROM deployments r
                        WHERE r.target_key = d.target_key AND r.status = 'running')
     ORDER BY d.not_before, d.id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE deployments d
   SET status = 'running', attempts = d.attempts + 1, claimed_by = %(worker)s,
       heartbeat_at = now(), updated_at = now(), started_at = coalesce(d.started_at, now())
  FROM next
 WHERE d.id = next.id
RETURNING d.id;

-- name: insert_attempt
INSERT INTO deploy_attempts (deployment_id, attempt, worker)
SELECT id, attempts, claimed_by FROM deployments WHERE id = %(id)s;

-- name: heartbeat
UPDATE deployments SET heartbeat_at = now()
 WHERE id = %(id)s AND status = 'running' AND claimed_by = %(worker)s;

-- name: finish_attempt
UPDATE deploy_attempts SET outcome = %(outcome)s, message = %(message)s, finished_at = now()
 WHERE deployment_id = %(id)s
   AND attempt = (SELECT attempts FROM deployments WHERE id = %(id)s);

-- name: finish_deployment
UPDATE deployments
   SET status = %(status)s, message = %(message)s, updated_at = now(), finished_at = now(),
       heartbeat_at = NULL, held_until = NULL,
       hold_words = NULL
 WHERE id = %(id)s AND status = 'running' AND claimed_by = %(worker)s
RETURNING id;

-- name: record_checks
-- What the trust checks said of the attempt's digest, whatever the attempt ends as.
UPDATE deployments SET checks = %(checks)s WHERE id = %(id)s;

-- name: hold_deployment
-- Running -> waiting while a trust check holds it back (an image not scanned yet): release
-- control judges it again at held_until, or sooner when the check's news arrives.
UPDATE deployments d
   SET status = 'waiting', message = %(message)s,
       held_since = coalesce(d.held_since, %(now)s), held_until = %(until)s,
       hold_words = %(message)s, wait_kinds = %(wait_kinds)s, due_at = %(until)s,
       holds = d.holds + 1, announced = d.held_since IS NOT NULL,
       updated_at = now(), heartbeat_at = NULL, claimed_by = NULL
 WHERE d.id = %(id)s AND d.status = 'running' AND d.claimed_by = %(worker)s
   AND NOT EXISTS (SELECT 1 FROM deployments w
                    WHERE w.target_key = d.target_key
                      AND (w.status = 'waiting' OR (w.status = 'planned' AND w.id > d.id)))
RETURNING d.id;

-- name: wake_held
-- The news a check waited for arrived (a scan of this digest ended): judge its holds now.
UPDATE deployments
   SET held_until = least(held_until, %(now)s), due_at = least(due_at, %(now)s)
 WHERE status = 'waiting' AND held_until IS NOT NULL AND digest = %(digest)s
RETURNING id;

-- name: has_newer_planned
-- A newer decision for the target, queued or waiting: a failed attempt is then not retried.
SELECT EXISTS (SELECT 1 FROM deployments
                WHERE target_key = %(target_key)s AND status IN ('planned', 'waiting')
                  AND id > %(id)s) AS newer;

-- name: requeue_deployment
UPDATE deployments
   SET status = 'planned', message = %(message)s, not_before = %(not_before)s,
       updated_at = now(), heartbeat_at = NULL, claimed_by = NULL
 WHERE id = %(id)s AND status = 'running' AND claimed_by = %(worker)s
   AND NOT EXISTS (SELECT 1 FROM deployments p
                    WHERE p.target_key = deployments.target_key AND p.status = 'planned'
                      AND p.digest = deployments.digest)
RETURNING id;

-- name: stalled_deployments
SELECT id, target_key FROM deployments
 WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => %(seconds)s)
   FOR UPDATE SKIP LOCKED;

-- name: recover_deployment
UPDATE deployments
   SET status = 'planned', message = 'the worker running it stopped responding',
       not_before = now(), updated_at = now(), heartbeat_at = NULL, claimed_by = NULL
 WHERE id = %(id)s;

-- name: supersede_stalled
-- A newer intent for the target was planned while this one ran: that one runs instead.
UPDATE deployments
   SET status = 'superseded',
       message = 'the worker running it stopped responding; a newer intent for the target runs',
       updated_at = now(), finished_at = now(), heartbeat_at = NULL
 WHERE id = %(id)s;

-- name: stalled_attempt
UPDATE deploy_attempts
   SET outcome = 'stalled', message = 'the worker stopped responding', finished_at = now()
 WHERE deployment_id = %(id)s AND finished_at IS NULL;

-- name: get_deployment
SELECT id, target, repository_name, registry, repository, tag, digest, previous_image, reason,
       trigger, event_id, status, message, attempts, not_before, created_at, updated_at,
       finished_at, notify, started_at, release, decided_at, pushed_at, forced_by, wait_kinds,
       due_at, announced, checks, held_since, held_until, hold_words, holds, rollout_id, gate
  FROM deployments
 WHERE id = %(id)s;

-- name: list_deployments
SELECT id, target, repository_name, registry, repository, tag, digest, previous_image, reason,
       trigger, event_id, status, message, attempts, not_before, created_at, updated_at,
       finished_at, notify, started_at, release, decided_at, pushed_at, forced_by, wait_kinds,
       due_at, announced, checks, held_since, held_until, hold_words, holds, rollout_id, gate
  FROM deployments
 WHERE (%(repository_name)s::text IS NULL OR repository_name = %(repository_name)s)
   AND (%(target_key)s::text IS NULL OR target_key = %(target_key)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s::bigint[]))
   AND (%(before)s::bigint IS NULL OR id < %(before)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: list_attempts
SELECT attempt, worker, outcome, message, started_at, finished_at
  FROM deploy_attempts
 WHERE deployment_id = %(id)s
 ORDER BY attempt;

-- name: next_due
SELECT min(not_before) AS due FROM deployments WHERE status = 'planned';

-- name: acquire_lease
-- By the clock: this may have waited for a fenced change of the holder to end.
INSERT INTO leases (name, holder, expires_at)
VALUES (%(name)s, %(holder)s, clock_timestamp() + make_interval(secs => %(seconds)s))
ON CONFLICT (name) DO UPDATE
   SET holder = EXCLUDED.holder,
       expires_at = clock_timestamp() + make_interval(secs => %(seconds)s)
 WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp()
RETURNING holder;

-- name: get_lease
SELECT name, holder, expires_at, now() AS now FROM leases WHERE name = %(name)s;

-- name: hold_lease
-- Inside a change made under a lease: the lease row, locked against a takeover until commit,
-- if it is held and unexpired by the clock (not as of the transaction's start); and how many
-- milliseconds it has left.
SELECT holder,
       greatest(100, ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000))::bigint
         AS ms_left
  FROM leases
 WHERE name = %(name)s AND holder = %(holder)s AND expires_at > clock_timestamp()
   FOR SHARE;

-- name: bound_idle
-- The server ends this transaction (and its locks) if its client goes quiet for that long.
SELECT set_config('idle_in_transaction_session_timeout', %(ms)s, true);

-- name: last_deployed_tag
SELECT tag FROM deployments
 WHERE repository_name = %(name)s AND status = 'succeeded'
 ORDER BY finished_at DESC, id DESC
 LIMIT 1;

-- name: insert_notice
INSERT INTO notices (notifier, deployment_id, kind, group_key, payload)
VALUES (%(notifier)s, %(deployment_id)s, %(kind)s, %(group_key)s, %(payload)s)
ON CONFLICT ON CONSTRAINT notices_once DO NOTHING;

-- name: notify_notices
SELECT pg_notify('regdeploy_notices', '');

-- name: claim_notices
-- Due notices old enough for their group to have gathered; held until the sends are recorded.
SELECT id, notifier, group_key, payload, attempts
  FROM notices
 WHERE status = 'pending' AND next_attempt_at <= greatest(now(), %(now)s)
   AND created_at <= greatest(now(), %(now)s) - make_interval(secs => %(group_seconds)s)
 ORDER BY id
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: notice_sent
UPDATE notices SET status = 'sent', attempts = attempts + 1, sent_at = now(), last_error = NULL
 WHERE id = ANY (%(ids)s);

-- name: notice_retry
UPDATE notices
   SET attempts = attempts + 1, last_error = %(error)s,
       next_attempt_at = %(now)s + make_interval(secs => %(seconds)s)
 WHERE id = ANY (%(ids)s);

-- name: notice_failed
UPDATE notices SET status = 'failed', attempts = attempts + 1, last_error = %(error)s
 WHERE id = ANY (%(ids)s);

-- name: list_notices
SELECT id, notifier, deployment_id, kind, status, attempts, last_error, created_at, sent_at
  FROM notices
 WHERE (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(before)s::bigint IS NULL OR id < %(before)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: next_notice_due
SELECT min(greatest(next_attempt_at, created_at + make_interval(secs => %(group_seconds)s)))
       AS due
  FROM notices WHERE status = 'pending';

-- name: backlog
-- What waits now, for the metrics and the status: each count uses a partial index but
-- failed_notices.
SELECT (SELECT count(*) FROM events WHERE status = 'pending') AS pending_events,
       (SELECT min(received_at) FROM events WHERE status = 'pending') AS oldest_pending_at,
       (SELECT count(*) FROM deployments WHERE status = 'planned') AS planned_deploys,
       (SELECT count(*) FROM deployments WHERE status = 'running') AS running_deploys,
       (SELECT count(*) FROM notices WHERE status = 'pending') AS pending_notices,
       (SELECT count(*) FROM notices WHERE status = 'failed') AS failed_notices,
       (SELECT count(*) FROM deployments WHERE status = 'waiting') AS waiting_deploys,
       (SELECT coalesce(jsonb_object_agg(kind, n), '{}')
          FROM (SELECT kind, count(*) AS n
                  FROM deployments, unnest(wait_kinds) AS kind
                 WHERE status = 'waiting'
                 GROUP BY kind) AS k) AS waiting_reasons,
       now() AS now;

-- name: failed_deployments_since
-- Deploys that ended badly since a moment, newest first (the console's overview).
SELECT id, target, repository_name, registry, repository, tag, digest, previous_image, reason,
       trigger, event_id, status, message, attempts, not_before, created_at, updated_at,
       finished_at, notify, started_at, release, decided_at, pushed_at, forced_by, wait_kinds,
       due_at, announced, checks, held_since, held_until, hold_words, holds, rollout_id, gate
  FROM deployments
 WHERE status IN ('failed', 'rolled_back', 'conflict') AND finished_at >= %(since)s
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: last_deployment_per_target
-- Each target's newest deployment or skip.
SELECT DISTINCT ON (target_key)
       id, target, repository_name, registry, repository, tag, digest, previous_image, reason,
       trigger, event_id, status, message, attempts, not_before, created_at, updated_at,
       finished_at, notify, started_at, release, decided_at, pushed_at, forced_by, wait_kinds,
       due_at, announced, checks, held_since, held_until, hold_words, holds, rollout_id, gate
  FROM deployments
 ORDER BY target_key, id DESC;

-- name: failed_notices_since
SELECT id, notifier, deployment_id, kind, status, attempts, last_error, created_at, sent_at
  FROM notices
 WHERE status = 'failed' AND created_at >= %(since)s
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: create_console_session
INSERT INTO console_sessions (id_hash, token_name, scope, csrf_token, expires_at)
VALUES (%(id_hash)s, %(token_name)s, %(scope)s, %(csrf_token)s,
        now() + make_interval(secs => %(seconds)s))
RETURNING id_hash, token_name, scope, csrf_token, flash, expires_at;

-- name: find_console_session
-- One of the hashes the cookie's id makes with each configured token (see the console's
-- sessions): none matches once the token it was opened with changed.
SELECT id_hash, token_name, scope, csrf_token, flash, expires_at
  FROM console_sessions
 WHERE id_hash = ANY(%(id_hashes)s::text[]) AND expires_at > now()
 LIMIT 1;

-- name: open_console_sessions
-- Which of these sessions still hold (not signed out, not expired): asked for all the live
-- streams of a process at once.
SELECT id_hash
  FROM console_sessions
 WHERE id_hash = ANY(%(id_hashes)s::text[]) AND expires_at > now();

-- name: delete_console_session
DELETE FROM console_sessions WHERE id_hash = %(id_hash)s;

-- name: purge_console_sessions
DELETE FROM console_sessions WHERE expires_at <= now();

-- name: set_console_flash
UPDATE console_sessions SET flash = %(flash)s WHERE id_hash = %(id_hash)s;

-- name: record_console_submission
-- A form is acted on once: a second submission of the same form token inserts nothing.
INSERT INTO console_submissions (id_hash, form_token)
VALUES (%(id_hash)s, %(form_token)s)
ON CONFLICT DO NOTHING
RETURNING form_token;

-- Release control ------------------------------------------------------------------------------

-- name: freeze_gate_shared
-- Held by every transaction that stores decisions while it reads the freezes, so that a freeze
-- (which takes it exclusively) holds every decision committed after it.
SELECT pg_advisory_xact_lock_shared(hashtext('regdeploy.freeze'));

-- name: freeze_gate
SELECT pg_advisory_xact_lock(hashtext('regdeploy.freeze'));

-- name: list_freezes
SELECT scope, reason, actor, since FROM freezes ORDER BY scope;

-- name: upsert_freeze
INSERT INTO freezes (scope, reason, actor, since)
VALUES (%(scope)s, %(reason)s, %(actor)s, %(since)s)
ON CONFLICT (scope) DO UPDATE
   SET reason = EXCLUDED.reason, actor = EXCLUDED.actor, since = EXCLUDED.since
RETURNING scope, reason, actor, since;

-- name: delete_freeze
DELETE FROM freezes WHERE scope = %(scope)s RETURNING scope, reason, actor, since;

-- name: thaw_waiting
-- Waits a freeze held: judged again at once (at ``now``, by regdeploy's clock).
UPDATE deployments SET due_at = %(now)s, updated_at = now()
 WHERE status = 'waiting' AND 'freeze' = ANY (wait_kinds)
   AND (%(scope)s = '' OR repository_name = %(scope)s)
RETURNING id;

-- name: last_pushes
-- The newest push of each repository, by the registry's time of the push.
SELECT registry, repository, max(occurred_at) AS last
  FROM events
 WHERE action = 'push'
   AND (registry, repository) IN (SELECT * FROM unnest(%(registries)s::text[],
                                                       %(repositories)s::text[]))
 GROUP BY registry, repository;

-- name: claim_waiting
-- Waiting deploys due to be judged again (at ``now``, regdeploy's clock), or whose waiting was
-- not announced yet; held until the verdicts are recorded, so that one process judges each.
SELECT id FROM deployments
 WHERE status = 'waiting' AND (due_at <= %(now)s OR NOT announced)
 ORDER BY due_at NULLS FIRST, id
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: lock_deployment
SELECT id, status FROM deployments WHERE id = %(id)s FOR UPDATE;

-- name: release_waiting
-- Waiting -> planned, unless the same image is already queued for the target.
UPDATE deployments d
   SET status = 'planned', message = %(message)s, not_before = now(), due_at = NULL,
       wait_kinds = '{}', announced = true, updated_at = now()
 WHERE d.id = %(id)s AND d.status = 'waiting'
   AND NOT EXISTS (SELECT 1 FROM deployments p
                    WHERE p.target_key = d.target_key AND p.status = 'planned'
                      AND p.digest = d.digest)
RETURNING d.id;

-- name: keep_waiting
UPDATE deployments
   SET wait_kinds = %(wait_kinds)s, due_at = %(due_at)s, message = %(message)s,
       announced = true, updated_at = now()
 WHERE id = %(id)s AND status = 'waiting';

-- name: end_waiting
UPDATE deployments
   SET status = %(status)s, message = %(message)s, due_at = NULL, wait_kinds = '{}',
       announced = true, updated_at = now(), finished_at = now()
 WHERE id = %(id)s AND status = 'waiting'
RETURNING id;

-- name: vote_approve
-- The same token twice counts once.
INSERT INTO deployment_votes (deployment_id, actor, approve, comment, voted_at)
VALUES (%(id)s, %(actor)s, true, %(comment)s, %(at)s)
ON CONFLICT (deployment_id, actor) DO NOTHING
RETURNING actor;

-- name: vote_reject
INSERT INTO deployment_votes (deployment_id, actor, approve, comment, voted_at)
VALUES (%(id)s, %(actor)s, false, %(comment)s, %(at)s)
ON CONFLICT (deployment_id, actor) DO UPDATE
   SET approve = false, comment = EXCLUDED.comment, voted_at = EXCLUDED.voted_at
RETURNING actor;

-- name: list_votes
SELECT deployment_id, actor, approve, comment, voted_at
  FROM deployment_votes
 WHERE deployment_id = ANY (%(ids)s::bigint[])
 ORDER BY voted_at, actor;

-- name: next_release_due
SELECT min(due_at) AS due, coalesce(bool_or(NOT announced), false) AS unannounced
  FROM deployments WHERE status = 'waiting';

-- name: announce_process
-- A process says what it runs (at its start, at each reload or refusal, and every few seconds);
-- processes not seen for a day are forgotten.
WITH forgotten AS (DELETE FROM processes WHERE seen_at < now() - interval '1 day')
INSERT INTO processes (id, role, config_path, fingerprint, loaded_at, restart_needed,
                       refused_at, refusal)
VALUES (%(id)s, %(role)s, %(config_path)s, %(fingerprint)s, %(loaded_at)s, %(restart_needed)s,
        %(refused_at)s, %(refusal)s)
ON CONFLICT (id) DO UPDATE
   SET config_path = EXCLUDED.config_path, fingerprint = EXCLUDED.fingerprint,
       loaded_at = EXCLUDED.loaded_at, restart_needed = EXCLUDED.restart_needed,
       refused_at = EXCLUDED.refused_at, refusal = EXCLUDED.refusal, seen_at = now();

-- name: processes_seen
SELECT id, role, config_path, fingerprint, started_at, loaded_at, restart_needed, refused_at,
       refusal, seen_at
  FROM processes
 WHERE seen_at > now() - make_interval(secs => %(seconds)s)
 ORDER BY started_at, id;

-- name: leave_process
DELETE FROM processes WHERE id = %(id)s;

-- Rollouts (receiver/store/rollouts.py). A rollout is advanced by one process at a time: the one
-- that claimed it until claimed_until (by the database's clock); every write of a look is fenced
-- on claimed_by.

-- name: insert_rollout
INSERT INTO rollouts (repository_name, stage, registry, repository, tag, digest, event_id, trigger,
                      policy, state, wave, words, notify, promoted_from, forced_by, next_look_at,
                      created_at, updated_at)
VALUES (%(repository_name)s, %(stage)s, %(registry)s, %(repository)s, %(tag)s, %(digest)s,
        %(event_id)s, %(trigger)s, %(policy)s, 'running', 1, %(words)s, %(notify)s,
        %(promoted_from)s, %(forced_by)s, %(now)s, %(now)s, %(now)s)
RETURNING id;

-- name: insert_rollout_wave
INSERT INTO rollout_waves (rollout_id, number, state, started_at)
VALUES (%(rollout_id)s, %(number)s, %(state)s, %(started_at)s);

-- name: insert_rollout_target
INSERT INTO rollout_targets (rollout_id, target_key, target, wave, deployment_id, previous_image)
VALUES (%(rollout_id)s, %(target_key)s, %(target)s, %(wave)s, %(deployment_id)s,
        %(previous_image)s);

-- name: attach_rollout
-- A deployment of a rollout: no notices of its own (the rollout's speak for it), and, in a later
-- wave or stage, the gate it waits behind. One that waited already (an intent joined it) takes
-- the rules it was decided with now and is judged again at once.
UPDATE deployments
   SET rollout_id = %(rollout_id)s, gate = %(gate)s, notify = '{}',
       release = coalesce(%(release)s, release),
       due_at = CASE WHEN status = 'waiting' THEN %(now)s ELSE due_at END
 WHERE id = %(id)s;

-- name: abandon_superseded_rollouts
-- A newer rollout of a repository's stage replaces the older ones that have not ended and move
-- any of its targets (those of other targets, under another policy, go on).
UPDATE rollouts r
   SET state = 'abandoned', reason = %(reason)s, words = %(reason)s, rolling_back = false,
       finished_at = now(), updated_at = now(), version = r.version + 1
 WHERE r.repository_name = %(repository_name)s AND r.stage = %(stage)s AND r.id <> %(id)s
   AND r.state IN ('running', 'halted')
   AND EXISTS (SELECT 1 FROM rollout_targets t
                WHERE t.rollout_id = r.id AND t.target_key = ANY(%(targets)s::text[]))
RETURNING r.id;

-- name: cancel_gated
-- The deployments of ``rollouts`` still waiting for their wave or stage never run.
UPDATE deployments
   SET status = 'cancelled', message = %(message)s, due_at = NULL, wait_kinds = '{}',
       updated_at = now(), finished_at = now()
 WHERE rollout_id = ANY(%(rollouts)s) AND status = 'waiting';

-- name: claim_rollout
-- The rollout due soonest that nobody holds (or whose holder's claim ran out), but those this
-- round looked at already.
UPDATE rollouts SET claimed_by = %(worker)s, claimed_until = now() + make_interval(secs => %(seconds)s)
 WHERE id = (
     SELECT id FROM rollouts
      WHERE (state = 'running' OR rolling_back OR promote_at IS NOT NULL)
        AND next_look_at <= greatest(now(), %(now)s)
        AND (claimed_until IS NULL OR claimed_until < now())
        AND id <> ALL(%(seen)s::bigint[])
      ORDER BY next_look_at, id
      LIMIT 1
      FOR UPDATE SKIP LOCKED)
RETURNING id;

-- name: defer_rollout
-- A look that failed: the rollout is looked at again later, the others meanwhile.
UPDATE rollouts SET next_look_at = %(at)s WHERE id = %(id)s AND claimed_by = %(worker)s;

-- name: release_rollout
UPDATE rollouts SET claimed_by = NULL, claimed_until = NULL
 WHERE id = %(id)s AND claimed_by = %(worker)s;

-- name: next_rollout_look
SELECT min(next_look_at) AS due FROM rollouts
 WHERE state = 'running' OR rolling_back OR promote_at IS NOT NULL;

-- name: get_rollout
SELECT * FROM rollouts WHERE id = %(id)s;

-- name: rollout_waves
SELECT * FROM rollout_waves WHERE rollout_id = ANY(%(ids)s) ORDER BY rollout_id, number;

-- name: rollout_targets
SELECT t.*, d.status AS deployment_status, d.message AS deployment_message,
       d.finished_at AS deployment_finished_at, d.tag AS deployment_tag,
       r.status AS rollback_status, r.message AS rollback_message
  FROM rollout_targets t
  LEFT JOIN deployments d ON d.id = t.deployment_id
  LEFT JOIN deployments r ON r.id = t.rollback_id
 WHERE t.rollout_id = ANY(%(ids)s)
 ORDER BY t.rollout_id, t.wave, t.target_key;

-- name: list_rollouts
SELECT * FROM rollouts
 WHERE (%(repository_name)s::text IS NULL OR repository_name = %(repository_name)s)
   AND (%(state)s::text IS NULL OR state = %(state)s)
   AND (%(before)s::bigint IS NULL OR id < %(before)s)
 ORDER BY id DESC LIMIT %(limit)s;

-- name: update_rollout
-- What a look found; only by the process that holds the rollout, over the version it read.
UPDATE rollouts
   SET state = %(state)s, wave = %(wave)s, words = %(words)s, reason = %(reason)s,
       rolling_back = %(rolling_back)s, next_look_at = %(next_look_at)s,
       promote_at = %(promote_at)s, version = version + 1,
       verified_at = %(verified_at)s, updated_at = now(),
       finished_at = CASE WHEN %(ended)s THEN coalesce(finished_at, now()) END
 WHERE id = %(id)s AND version = %(version)s
   AND (claimed_by = %(worker)s OR %(worker)s::text IS NULL)
RETURNING id;

-- name: update_rollout_wave
UPDATE rollout_waves
   SET state = %(state)s, started_at = %(started_at)s, settled_at = %(settled_at)s,
       healthy_since = %(healthy_since)s, finished_at = %(finished_at)s
 WHERE rollout_id = %(rollout_id)s AND number = %(number)s;

-- name: update_rollout_target
UPDATE rollout_targets
   SET marks = %(marks)s, health = %(health)s, deployment_id = %(deployment_id)s,
       rollback_id = %(rollback_id)s
 WHERE rollout_id = %(rollout_id)s AND target_key = %(target_key)s;

-- name: lift_gates
-- A wave starts: its deployments are judged again at once, without the gate (a window or an
-- approval may still hold them), as decided now (an approval deadline counts from here).
UPDATE deployments SET gate = NULL, due_at = %(now)s, decided_at = %(now)s, updated_at = now()
 WHERE id = ANY(%(ids)s) AND status = 'waiting';

-- name: gate_words
-- What a halted rollout's waiting deployments wait for now (its halted wave's too: held until
-- a person resumes it).
UPDATE deployments SET gate = %(gate)s, message = 'waits for: ' || %(gate)s, updated_at = now()
 WHERE id = ANY(%(ids)s) AND status = 'waiting';

-- name: lock_rollout
SELECT * FROM rollouts WHERE id = %(id)s FOR UPDATE;

-- name: rollout_under_way
-- A rollout of this digest to this repository's stage that has not ended and moves every one of
-- these targets: a push of the same digest again joins it rather than starting over.
SELECT r.id, r.state, r.wave FROM rollouts r
 WHERE r.repository_name = %(repository_name)s AND r.stage = %(stage)s AND r.digest = %(digest)s
   AND r.state IN ('running', 'halted')
   AND NOT EXISTS (SELECT 1 FROM unnest(%(targets)s::text[]) AS k (key)
                    WHERE NOT EXISTS (SELECT 1 FROM rollout_targets t
                                       WHERE t.rollout_id = r.id AND t.target_key = k.key))
 ORDER BY r.id DESC LIMIT 1;

-- name: wake_rollout
-- A deploy of a rollout ended: the rollout is looked at again at once, not at its next look.
UPDATE rollouts r SET next_look_at = least(r.next_look_at, now())
  FROM deployments d
 WHERE d.id = %(id)s AND r.id = d.rollout_id AND (r.state = 'running' OR r.rolling_back);

-- name: stop_queued
-- A halted rollout's deploys that were released but have not run yet never do (a person may
-- resume the rollout: they go again); those still waiting are held by their gate instead.
UPDATE deployments
   SET status = 'cancelled', message = %(message)s, due_at = NULL, wait_kinds = '{}',
       updated_at = now(), finished_at = now()
 WHERE id = ANY(%(ids)s) AND status = 'planned';
