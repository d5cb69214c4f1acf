-- The hub's outbox (upstream) uses the node's words for the same three states (shared::protocol::OutboxState):
-- 'pending' until the parent answers 200/201 ('acked') or refuses for good ('refused').
UPDATE upstream SET state = 'pending' WHERE state = 'queued';
UPDATE upstream SET state = 'acked' WHERE state = 'delivered';
