-- Version 1: queues, their meta values and endpoints, jobs with leases,
-- events and outputs. Every table is in the `imagegen` schema and every
-- row belongs to a queue (what one SQLite batch folder is).

CREATE TABLE imagegen.queues (
    id                 bigserial PRIMARY KEY,
    name               text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- The next job number: jobs are numbered 1, 2, ... per queue, in the
    -- order they were recorded (file order for a batch).
    next_job_id        bigint NOT NULL DEFAULT 1,
    -- 'none' (no batch ingest yet), 'running' (a handle is recording a
    -- batch file in chunks), 'complete' (finish_ingest was called).
    ingest             text NOT NULL DEFAULT 'none',
    -- The handle recording the batch, and until when it is known alive.
    ingest_by          text,
    ingest_lease_until timestamptz,
    -- The number of jobs when the last ingest finished.
    jobs_recorded      bigint
);

CREATE TABLE imagegen.meta (
    queue_id bigint NOT NULL REFERENCES imagegen.queues(id) ON DELETE CASCADE,
    key      text NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (queue_id, key)
);

CREATE TABLE imagegen.endpoints (
    queue_id bigint NOT NULL REFERENCES imagegen.queues(id) ON DELETE CASCADE,
    provider text NOT NULL,
    endpoint text NOT NULL,
    PRIMARY KEY (queue_id, provider)
);

CREATE TABLE imagegen.jobs (
    queue_id    bigint NOT NULL REFERENCES imagegen.queues(id) ON DELETE CASCADE,
    id          bigint NOT NULL,
    line        bigint NOT NULL,
    copy        bigint NOT NULL DEFAULT 0,
    name        text,
    prompt      text NOT NULL,
    providers   text[] NOT NULL,
    request     text,
    strictness  text NOT NULL DEFAULT 'strict',
    -- A state name this version knows; a name it does not know is refused
    -- when read, never guessed (no CHECK: a newer version's rows must be
    -- readable far enough to say what is wrong).
    state       text NOT NULL,
    provider    text,
    endpoint    text,
    task_id     text,
    handle      text,
    error_kind  text,
    error       text,
    credits     double precision,
    est_credits double precision,
    attempts    bigint NOT NULL DEFAULT 0,
    -- The handle that last claimed the job, and until when it holds it
    -- (NULL: nobody holds it).
    claimed_by  text,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue_id, id)
);

-- The claim scans jobs that are not settled for good, in job order; done
-- and invalid jobs leave this index, so it stays as small as the work left.
CREATE INDEX jobs_open ON imagegen.jobs (queue_id, id)
    WHERE state NOT IN ('done', 'invalid');
-- The held jobs: what the heartbeat renews and the sweep of dead workers'
-- creates looks at.
CREATE INDEX jobs_leased ON imagegen.jobs (queue_id, lease_until)
    WHERE lease_until IS NOT NULL;

CREATE TABLE imagegen.events (
    id       bigserial PRIMARY KEY,
    queue_id bigint NOT NULL,
    job_id   bigint NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    state    text NOT NULL,
    detail   text,
    FOREIGN KEY (queue_id, job_id) REFERENCES imagegen.jobs(queue_id, id) ON DELETE CASCADE
);
CREATE INDEX events_job ON imagegen.events (queue_id, job_id);

CREATE TABLE imagegen.outputs (
    queue_id bigint NOT NULL,
    job_id   bigint NOT NULL,
    idx      bigint NOT NULL,
    path     text NOT NULL,
    sha256   text NOT NULL,
    bytes    bigint,
    width    bigint,
    height   bigint,
    url      text,
    host     text,
    PRIMARY KEY (queue_id, job_id, idx),
    FOREIGN KEY (queue_id, job_id) REFERENCES imagegen.jobs(queue_id, id) ON DELETE CASCADE
);
