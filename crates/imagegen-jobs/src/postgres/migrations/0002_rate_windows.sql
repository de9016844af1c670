-- Version 2: one rate budget per API key across every process that uses
-- this database (`PgRate`). Self-contained: it touches no table of
-- version 1.

-- One row per account: the start times of its last requests (a sliding
-- window log, oldest first, at most the account's cap of them) and the
-- instant before which nobody may start (a 429's Retry-After). `account`
-- is a SHA-256 of the client's account id, itself a fingerprint: no API
-- key is ever stored. Each take rewrites the row and changes no indexed
-- column, so the space `fillfactor` leaves lets the update stay on its
-- page (HOT) and the table stays one page per handful of accounts.
CREATE TABLE imagegen.rate_windows (
    account       text PRIMARY KEY,
    starts        timestamptz[] NOT NULL DEFAULT '{}',
    blocked_until timestamptz
) WITH (fillfactor = 50);

-- Takes one start for `p_account` if fewer than `p_cap` started in the
-- last `p_window_secs` seconds and it is not held back: returns 0 and
-- records it. Otherwise records nothing and returns how many seconds until
-- a start may be free. The row lock serializes takers of one account; the
-- time is read after the lock is held and from the server's clock, so
-- queueing for the lock never backdates a start and the clients' clocks
-- do not matter.
CREATE FUNCTION imagegen.rate_take(p_account text, p_cap integer, p_window_secs double precision)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    window_length interval := make_interval(secs => p_window_secs);
    cap integer := greatest(p_cap, 1);
    log timestamptz[];
    held timestamptz;
    t timestamptz;
    kept timestamptz[];
BEGIN
    SELECT starts, blocked_until INTO log, held
    FROM imagegen.rate_windows WHERE account = p_account FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        INSERT INTO imagegen.rate_windows(account) VALUES (p_account)
        ON CONFLICT (account) DO NOTHING;
        SELECT starts, blocked_until INTO log, held
        FROM imagegen.rate_windows WHERE account = p_account FOR NO KEY UPDATE;
    END IF;
    t := clock_timestamp();
    IF held > t THEN
        RETURN extract(epoch FROM held - t);
    END IF;
    kept := ARRAY(SELECT s FROM unnest(log) AS s WHERE s + window_length > t ORDER BY s);
    IF cardinality(kept) >= cap THEN
        -- Free when the oldest start beyond cap - 1 leaves the window.
        RETURN greatest(extract(epoch FROM kept[cardinality(kept) - cap + 1] + window_length - t), 0.000001);
    END IF;
    UPDATE imagegen.rate_windows SET starts = kept || t WHERE account = p_account;
    RETURN 0;
END
$$;
