-- Reminder channels (issue 15, hub/src/channels/): where each child's reminders go, and each
-- delivery of a notice on one channel. Portable SQL, as 0001.

-- A child's (or this hub's own, for escalations) channels: one webhook of a kind, any number of
-- e-mail addresses. `channel` is Channel::id(): the webhook's kind, or `email:ADDRESS`.
CREATE TABLE reminder_channels (
    org TEXT NOT NULL,
    channel TEXT NOT NULL,
    -- json | wecom | dingtalk | feishu | email
    kind TEXT NOT NULL,
    -- The webhook URL or the e-mail address.
    target TEXT NOT NULL,
    -- The robot's signing secret (DingTalk 加签, Feishu 签名校验); NULL: none.
    secret TEXT,
    PRIMARY KEY (org, channel)
);

-- The webhooks and addresses registered before channels had kinds keep working as before.
INSERT INTO reminder_channels (org, channel, kind, target, secret)
    SELECT code, 'json', 'json', webhook, NULL FROM orgs WHERE webhook IS NOT NULL AND webhook <> '';
INSERT INTO reminder_channels (org, channel, kind, target, secret)
    SELECT code, 'email:' || LOWER(email), 'email', email, NULL FROM orgs WHERE email IS NOT NULL AND email <> '';

-- One notice (campaign, org, kind) on one channel. A sender claims a row by moving lease_until
-- forward with UPDATE … RETURNING, so of several hub processes on one store only one sends it;
-- `delivered_at` is set only when the channel took it, and a delivered row is never sent again.
CREATE TABLE reminder_deliveries (
    campaign TEXT NOT NULL,
    org TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    -- pending | delivered | refused | unavailable | unknown (timed out after sending: not resent)
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    -- The channel's last answer, for a person (no URL, no secret).
    answer TEXT,
    -- RFC 3339 UTC; a claim holds until then.
    lease_until TEXT,
    updated_at TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (campaign, org, kind, channel)
);
