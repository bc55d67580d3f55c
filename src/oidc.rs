//! Console single sign-on with a bank's OpenID provider (Entra ID, Keycloak, Okta, ADFS):
//! the authorization code flow with PKCE, `state` and `nonce`, through the
//! `openidconnect` crate — discovery, and every check of the ID token (signature from
//! the provider's JWKS, `iss`, `aud`, `exp`, `nonce`) is the crate's, none hand-written.
//!
//! What the staff member may do comes from their claims: `role_claim` (a string or a
//! list) through `role_map` (claim value → role; the strongest mapped role wins, none →
//! refused), `institution_claim` (an `InstRtId`, or `*` for every institution). The
//! provider's own second factor stands for tokend's; `oidc_required_amr` can demand it.
//!
//! The provider is discovered at each sign-in: a provider down fails that sign-in with a
//! clear page and nothing else. HTTP redirects are never followed (SSRF).
//! Imports: openidconnect, ureq, serde, types.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use crate::types::Role;

/// The provider and what its claims mean (`[default.oidc]`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer URL (discovery at `/.well-known/openid-configuration`).
    pub issuer: String,
    /// tokend's client id at the provider.
    pub client_id: String,
    /// Its secret (from the settings or `TOKEND_OIDC_CLIENT_SECRET`).
    pub client_secret: Zeroizing<String>,
    /// Scopes asked beside `openid`.
    pub scopes: Vec<String>,
    /// The claim naming the staff member (a console username).
    pub username_claim: String,
    /// The claim whose values map to roles.
    pub role_claim: String,
    /// Claim value → role.
    pub role_map: BTreeMap<String, Role>,
    /// The claim holding the `InstRtId` (or `*`); absent: the configured institution.
    pub institution_claim: Option<String>,
    /// Every one of these must be in the ID token's `amr` (empty: not checked).
    pub required_amr: Vec<String>,
    /// The sign-in button's words.
    pub button_label: String,
}

/// The flow's secrets between the redirect to the provider and its callback: kept in a
/// private (encrypted, authenticated) cookie, used once.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    /// `state`, compared in constant time with the callback's.
    pub state: String,
    /// `nonce`, checked inside the ID token.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: String,
}

/// A staff member as the provider vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The username claim's value.
    pub username: String,
    /// Their role, mapped from the role claim.
    pub role: Role,
    /// Their institution: `Some(InstRtId)`, or `None` for every institution (`*`);
    /// the claim absent: the configured default, decided by the caller.
    pub institution: Option<Option<String>>,
    /// The ID token's `amr`.
    pub amr: Vec<String>,
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense: nobody's fault here.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The answer was refused: its ID token, or what its claims allow.
    #[error("the sign-in was refused: {0}")]
    Refused(String),
}

fn unavailable(e: impl std::fmt::Display) -> OidcError {
    OidcError::Unavailable(e.to_string())
}

fn refused(e: impl std::fmt::Display) -> OidcError {
    OidcError::Refused(e.to_string())
}

/// The provider client: the configuration and an HTTP agent.
pub struct Oidc {
    config: OidcConfig,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Oidc({})", self.config.issuer)
    }
}

impl Oidc {
    /// A client of the configured provider over `agent` (built with the deployment's TLS
    /// roots; it must not follow redirects).
    pub fn new(config: OidcConfig, agent: ureq::Agent) -> Oidc {
        Oidc { config, agent }
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    fn client(
        &self,
        redirect_url: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(unavailable)?;
        let metadata = CoreProviderMetadata::discover(&issuer, &self.agent).map_err(unavailable)?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.to_string())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_url.to_owned()).map_err(unavailable)?))
    }

    /// Starts a sign-in: the provider's authorization URL to send the browser to, and the
    /// secrets its callback must match.
    pub fn start(
        &self,
        redirect_url: &str,
        login_hint: Option<&str>,
    ) -> Result<(String, Pending), OidcError> {
        let client = self.client(redirect_url)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut rq = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            rq = rq.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            rq = rq.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = rq.url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        };
        Ok((url.to_string(), pending))
    }

    /// Finishes a sign-in whose `state` already matched: exchanges the code (with the
    /// PKCE verifier), verifies the ID token and maps its claims.
    pub fn finish(
        &self,
        redirect_url: &str,
        pending: Pending,
        code: &str,
    ) -> Result<Identity, OidcError> {
        let client = self.client(redirect_url)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request(&self.agent)
            .map_err(|e| match e {
                openidconnect::RequestTokenError::Request(e) => unavailable(e),
                other => refused(format!("the code was refused: {other}")),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| refused("no ID token in the answer"))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce))
            .map_err(|e| refused(format!("the ID token is not valid: {e}")))?;
        let amr: Vec<String> = claims
            .auth_method_refs()
            .map(|v| v.iter().map(|m| m.as_str().to_owned()).collect())
            .unwrap_or_default();
        // The token's signature is verified over exactly these bytes: its other claims
        // (role, institution) are read from the same payload.
        let payload = payload_of(&id_token.to_string())?;
        self.identity(&payload, amr)
    }

    /// Maps verified claims to a staff identity (refused without a mapped role, a
    /// username, or a required `amr`).
    pub fn identity(
        &self,
        claims: &serde_json::Value,
        amr: Vec<String>,
    ) -> Result<Identity, OidcError> {
        let c = &self.config;
        if let Some(missing) = c.required_amr.iter().find(|m| !amr.contains(m)) {
            return Err(refused(format!(
                "the provider's sign-in lacks the required authentication method {missing:?} (amr)"
            )));
        }
        let username = claims
            .get(&c.username_claim)
            .and_then(|v| v.as_str())
            .filter(|u| !u.is_empty() && u.len() <= 120 && !u.chars().any(char::is_control))
            .ok_or_else(|| refused(format!("no usable {} claim", c.username_claim)))?
            .to_owned();
        let values: Vec<&str> = match claims.get(&c.role_claim) {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        let role = values
            .iter()
            .filter_map(|v| c.role_map.get(*v).copied())
            .max_by_key(|r| Role::ALL.iter().position(|x| x == r))
            .ok_or_else(|| {
                refused(format!(
                    "no {} value of {username} maps to a role",
                    c.role_claim
                ))
            })?;
        let institution = match &c.institution_claim {
            None => None,
            Some(name) => match claims.get(name).and_then(|v| v.as_str()) {
                Some("*") => Some(None),
                Some(inst) => Some(Some(inst.to_owned())),
                None => return Err(refused(format!("no {name} claim"))),
            },
        };
        Ok(Identity {
            username,
            role,
            institution,
            amr,
        })
    }
}

/// The JSON payload of a (verified) compact JWT.
fn payload_of(jwt: &str) -> Result<serde_json::Value, OidcError> {
    use base64::Engine as _;
    let part = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| refused("the ID token is not a compact JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(refused)?;
    serde_json::from_slice(&bytes).map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(required_amr: &[&str]) -> Oidc {
        let config = OidcConfig {
            issuer: "http://127.0.0.1:9".into(),
            client_id: "tokend".into(),
            client_secret: Zeroizing::new("s".into()),
            scopes: vec!["profile".into()],
            username_claim: "preferred_username".into(),
            role_claim: "roles".into(),
            role_map: [("it_admins", Role::Admin), ("helpdesk", Role::Helpdesk)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            institution_claim: Some("inst".into()),
            required_amr: required_amr.iter().map(|s| (*s).to_owned()).collect(),
            button_label: "Sign in".into(),
        };
        Oidc::new(config, ureq::AgentBuilder::new().redirects(0).build())
    }

    #[test]
    fn claims_map_to_the_strongest_role_and_the_institution() {
        let o = oidc(&[]);
        let claims = serde_json::json!({"preferred_username": "kari", "roles": ["helpdesk", "it_admins", "x"], "inst": "*"});
        let id = o.identity(&claims, vec![]).unwrap();
        assert_eq!((id.role, id.institution), (Role::Admin, Some(None)));
        let claims = serde_json::json!({"preferred_username": "per", "roles": "helpdesk", "inst": "021000021"});
        let id = o.identity(&claims, vec![]).unwrap();
        assert_eq!(
            (id.role, id.institution),
            (Role::Helpdesk, Some(Some("021000021".into())))
        );
        let none =
            serde_json::json!({"preferred_username": "eve", "roles": ["marketing"], "inst": "*"});
        assert!(matches!(
            o.identity(&none, vec![]),
            Err(OidcError::Refused(_))
        ));
        let claims =
            serde_json::json!({"preferred_username": "kari", "roles": "helpdesk", "inst": "*"});
        let strict = oidc(&["mfa"]);
        assert!(strict.identity(&claims, vec!["pwd".into()]).is_err());
        assert!(strict
            .identity(&claims, vec!["pwd".into(), "mfa".into()])
            .is_ok());
    }
}
