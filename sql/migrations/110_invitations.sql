-- Invitations (step 9): adding someone to a public or private room invites them; the room is
-- theirs only once they accept (member.joined) or gone once they decline (member.declined).
-- Who invited them and when, for GET /invitations.
ALTER TABLE memberships ADD COLUMN invited_by uuid;
ALTER TABLE memberships ADD COLUMN invited_at timestamptz;
-- A user's pending invitations, by key (the few rows in state 'invited').
CREATE INDEX memberships_invited ON memberships (user_id, room_id) WHERE state = 'invited';
