-- Access per profile: the same model as the SQLite schema. Keys an account makes are bound to
-- one profile and to their maker; subscriptions made through a profile's access receive only
-- that profile's events.
ALTER TABLE api_keys ADD COLUMN profile_id UUID REFERENCES profiles (id) ON DELETE CASCADE;
ALTER TABLE api_keys ADD COLUMN account_id UUID REFERENCES accounts (id) ON DELETE CASCADE;
CREATE INDEX api_keys_by_account ON api_keys (account_id) WHERE account_id IS NOT NULL;
ALTER TABLE webhook_subscriptions ADD COLUMN profile_id UUID REFERENCES profiles (id) ON DELETE CASCADE;
CREATE INDEX webhook_subscriptions_by_profile ON webhook_subscriptions (profile_id)
    WHERE profile_id IS NOT NULL;
