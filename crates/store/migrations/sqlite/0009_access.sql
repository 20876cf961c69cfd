-- Access per profile: a key an account makes is bound to one profile (profile_id) and stops
-- when its maker (account_id) loses the role that allowed it; keys made on the command line
-- have neither and stay instance-wide. A webhook subscription made through a profile's access
-- receives only that profile's events (profile_id); one without, the instance's.
ALTER TABLE api_keys ADD COLUMN profile_id TEXT REFERENCES profiles (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD COLUMN account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE;
CREATE INDEX api_keys_by_account ON api_keys (account_id) WHERE account_id IS NOT NULL;
ALTER TABLE webhook_subscriptions ADD COLUMN profile_id TEXT REFERENCES profiles (id) ON DELETE CASCADE;
CREATE INDEX webhook_subscriptions_by_profile ON webhook_subscriptions (profile_id)
    WHERE profile_id IS NOT NULL;
