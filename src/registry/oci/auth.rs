//! The Bearer-token side of [`Oci::send`]: tokens by scope, and the token service a challenge
//! names, which gets the credentials only on https, on the registry's own origin, or on loopback.

use std::collections::HashMap;

use reqwest::StatusCode;

use super::Oci;
use crate::registry::RegistryError;
use crate::registry::error::{AuthProblem, Problem, Request};
use crate::registry::wire::{is_loopback_url, parse_challenge};

impl Oci {
    pub(super) fn tokens_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        match self.tokens.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(super) fn token_for(&self, scope: &str) -> Option<String> {
        self.tokens_lock().get(scope).cloned()
    }

    /// Answers a `Bearer realm=…,service=…` challenge: a token for `scope` from the realm. The
    /// credentials go to the realm only when it is on https, on the registry's own origin, or on
    /// loopback.
    pub(super) async fn token(
        &self,
        challenge: &str,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let params = parse_challenge(challenge);
        let realm = params
            .get("realm")
            .ok_or_else(|| self.protocol(Request::BearerChallenge, Problem::NoRealm))?;
        let realm = url::Url::parse(realm).map_err(|error| {
            self.protocol(
                Request::BearerChallenge,
                Problem::BadRealm {
                    realm: realm.clone(),
                    error,
                },
            )
        })?;
        if !(realm.scheme() == "https" || self.same_origin(&realm) || is_loopback_url(&realm)) {
            return Err(self.auth_error(AuthProblem::InsecureRealm {
                origin: realm.origin().ascii_serialization(),
            }));
        }
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        let resp = self
            .dispatch(|| {
                let mut req = self.http.get(realm.clone()).query(&query);
                if let Some(c) = &self.credentials {
                    req = req.basic_auth(&c.username, Some(&c.password));
                }
                req
            })
            .await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.auth_error(AuthProblem::TokenService { status }));
        }
        if !status.is_success() {
            return Err(self.protocol(Request::Token, Problem::Status { status }));
        }
        let body = self
            .json(resp, crate::limits::HTTP_BODY, Request::Token)
            .await?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| self.protocol(Request::Token, Problem::NoToken))?;
        if reqwest::header::HeaderValue::from_str(token).is_err() {
            // Never quoted: it is a credential.
            return Err(self.protocol(Request::Token, Problem::TokenNotHeader));
        }
        Ok(token.to_string())
    }
}
