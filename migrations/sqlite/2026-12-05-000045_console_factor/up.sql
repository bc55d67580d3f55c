-- Staff sign-in with a second factor (issue 25). factor_at: when this console session
-- passed its second factor (NULL: the password only, which opens no page while
-- console_mfa = "required"). via: how it signed in ('password' or 'oidc').
ALTER TABLE admin_sessions ADD COLUMN factor_at BIGINT;
ALTER TABLE admin_sessions ADD COLUMN via TEXT NOT NULL DEFAULT 'password';
