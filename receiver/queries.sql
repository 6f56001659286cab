-- Every query regdeploy runs, by name. Loaded by receiver/store.py; parameters are always bound.

-- name: schema_lock
SELECT pg_advisory_xact_lock(hashtext('regdeploy.schema'));

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: ping
SELECT 1;

-- name: insert_event
INSERT INTO events (source, event_id, action, registry, repository, tag, digest, media_type,
                    actor, occurred_at)
VALUES (%(source)s, %(event_id)s, %(action)s, %(registry)s, %(repository)s, %(tag)s,
        %(digest)s, %(media_type)s, %(actor)s, %(occurred_at)s)
ON CONFLICT (source, event_id) DO NOTHING
RETURNING id;

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

-- name: notify_events
SELECT pg_notify('regdeploy_events', %(source)s);

-- name: insert_rejection
INSERT INTO rejected_payloads (source, reason, content_type, body)
VALUES (%(source)s, %(reason)s, %(content_type)s, %(body)s);

-- name: list_events
SELECT id, source, event_id, action, registry, repository, tag, digest, media_type, actor,
       occurred_at, received_at, status
  FROM events
 WHERE (%(repository)s::text IS NULL OR repository = %(repository)s)
   AND (%(source)s::text IS NULL OR source = %(source)s)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: list_tags
SELECT registry, repository, tag, digest, media_type, pushed_at
  FROM tags
 ORDER BY registry, repository, tag;

-- name: list_rejections
SELECT id, source, reason, content_type, octet_length(body) AS size, received_at
  FROM rejected_payloads
 ORDER BY id DESC
 LIMIT %(limit)s;
