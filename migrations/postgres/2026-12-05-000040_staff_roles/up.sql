-- Staff roles and institutions (issue 24). Every console account has one role
-- (auditor < helpdesk < officer < admin) and one institution, or every institution
-- (inst_rt_id NULL). Accounts that existed before keep what they could do: admin of
-- every institution. disabled_at: the account can no longer sign in and its sessions end.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE admins ADD COLUMN inst_rt_id TEXT;
ALTER TABLE admins ADD COLUMN disabled_at BIGINT;

-- Dual control (maker-checker): an action the bank lists under dual_control becomes a
-- request that another staff member approves. params: the action's input as JSON,
-- including what the target looked like when requested (its intent key), so an
-- approval of a target changed since is refused. state: pending, approved, rejected,
-- expired or failed (approved, but the action refused when it ran).
CREATE TABLE approvals (
    id SERIAL PRIMARY KEY,
    inst_rt_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    maker_id INTEGER NOT NULL,
    maker TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    outcome TEXT
);
CREATE INDEX approvals_by_state ON approvals (state, inst_rt_id, id);
