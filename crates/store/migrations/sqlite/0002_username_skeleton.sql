-- Look-alike usernames (`paypal`, `paypa1`, `paypaI`) are refused: each profile keeps the
-- skeleton of its name (linkleaf_domain::username::skeleton, which this expression matches:
-- on the name as written 0 -> o, 1 and I -> l; then lowercase; then rn -> m, vv -> w), unique.
ALTER TABLE profiles ADD COLUMN username_skeleton TEXT;
UPDATE profiles SET username_skeleton =
    replace(replace(lower(replace(replace(replace(username, '0', 'o'), '1', 'l'), 'I', 'l')), 'rn', 'm'), 'vv', 'w');
-- Names registered before this rule may already look alike: the oldest keeps the skeleton, the
-- others keep their names under a skeleton made unique by their id (no one is renamed, and a
-- new look-alike of any of them is still refused by the oldest's skeleton). A rename of one of
-- them computes its skeleton anew.
UPDATE profiles SET username_skeleton = username_skeleton || '#' || id
WHERE EXISTS (
    SELECT 1 FROM profiles older
    WHERE older.username_skeleton = profiles.username_skeleton
      AND (older.created_at < profiles.created_at
           OR (older.created_at = profiles.created_at AND older.id < profiles.id))
);
CREATE UNIQUE INDEX profiles_by_skeleton ON profiles (username_skeleton);
