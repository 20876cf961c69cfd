-- Look-alike usernames (`paypal`, `paypa1`, `paypaI`) are refused: each profile keeps the
-- skeleton of its name (linkleaf_domain::username::skeleton, which this expression matches:
-- on the name as written 0 -> o, 1 and I -> l; then lowercase; then rn -> m, vv -> w), unique.
ALTER TABLE profiles ADD COLUMN username_skeleton TEXT;
UPDATE profiles SET username_skeleton =
    replace(replace(lower(replace(replace(replace(username, '0', 'o'), '1', 'l'), 'I', 'l')), 'rn', 'm'), 'vv', 'w');
CREATE UNIQUE INDEX profiles_by_skeleton ON profiles (username_skeleton);
