//! Authentication of the first frame: simple and strict claims-only modes, roles and capability
//! negotiation (tcm.md §5).

use crate::config::{AuthConfig, AuthMode};
use serde_json::{Map, Value};

/// The auth context the server attaches to every later message as `_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// `sub` claim (strict mode only; null in simple mode).
    pub sub: Option<String>,
    /// Tenant (strict mode only; null in simple mode, which makes the tenant `unknown`).
    pub tenant_id: Option<String>,
    /// Roles that authorise management and inference.
    pub roles: Vec<String>,
    /// Negotiated capability list (`["json"]` for legacy clients).
    pub capability: Vec<String>,
}

impl AuthContext {
    /// The `_auth` object, in the reference key order.
    pub fn to_json(&self) -> String {
        crate::frames::OrderedObject::new()
            .value("sub", &opt(&self.sub))
            .value("tenant_id", &opt(&self.tenant_id))
            .value("roles", &Value::from(self.roles.clone()))
            .value("capability", &Value::from(self.capability.clone()))
            .finish()
    }

    /// The tenant key used by the scheduler and the tenant limit.
    pub fn tenant_key(&self) -> String {
        self.tenant_id
            .clone()
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// Whether the context grants `role` (directly or through `admin`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role || r == "admin")
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::from).unwrap_or(Value::Null)
}

/// The result of checking an auth payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Accepted; `reply_capability` is `None` for the legacy `auth.ok` shape.
    Accepted {
        /// The connection's auth context.
        context: AuthContext,
        /// Capability list for the `auth.ok` payload, or `None` for `{"type":"auth.ok"}`.
        reply_capability: Option<Vec<String>>,
    },
    /// A token failure (counts towards the auth-failure limit); the text is the full error message.
    TokenRejected(String),
    /// A configuration error (not counted); the text is the full error message.
    ConfigurationError(String),
    /// The reference handler crashes: drop the connection without any frame (Q5).
    Crash,
}

/// Checks one auth payload. `now` is the Unix time in seconds.
pub fn authenticate(
    payload: &Map<String, Value>,
    cfg: &AuthConfig,
    shm_available: bool,
    now: f64,
) -> AuthOutcome {
    let (capability, reply_capability) =
        negotiate_capability(payload.get("capability"), shm_available);
    let token = payload.get("token");
    let token_missing =
        matches!(token, None | Some(Value::Null)) || token.and_then(Value::as_str) == Some("");
    let identity = match cfg.mode {
        AuthMode::Simple => {
            if cfg.require_token && token_missing {
                return AuthOutcome::Crash;
            }
            let roles = payload
                .get("client")
                .and_then(Value::as_object)
                .map(|c| roles_from(c.get("roles")))
                .unwrap_or_default();
            let roles = if roles.is_empty() {
                vec!["inference".to_string(), "management".to_string()]
            } else {
                roles
            };
            (None, None, roles)
        }
        AuthMode::StrictClaimsOnly => {
            if cfg.env != "development" {
                return AuthOutcome::ConfigurationError(format!(
                    "Auth configuration error: auth.mode='strict' requires cryptographic verification (JWKS/PEM). TCM_ENV='{}' does not allow 'claims-only' validation.",
                    cfg.env
                ));
            }
            if token_missing {
                return rejected("Missing token in auth payload");
            }
            let claims = match token.and_then(Value::as_str).and_then(decode_claims) {
                Some(c) => c,
                None => return rejected("Invalid token format"),
            };
            if let Err(reason) = check_claims(&claims, cfg, now) {
                return rejected(&reason);
            }
            let string_claim = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
            let tenant = string_claim("tenant_id").or_else(|| string_claim("tenant"));
            let roles_claim = ["roles", "role", "permissions"]
                .iter()
                .find_map(|k| claims.get(*k).filter(|v| !v.is_null()));
            (string_claim("sub"), tenant, roles_from(roles_claim))
        }
    };
    let (sub, tenant_id, roles) = identity;
    AuthOutcome::Accepted {
        context: AuthContext {
            sub,
            tenant_id,
            roles,
            capability,
        },
        reply_capability,
    }
}

fn rejected(reason: &str) -> AuthOutcome {
    AuthOutcome::TokenRejected(format!("Invalid token: {reason}"))
}

fn roles_from(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Capability negotiation (§5.2): the negotiated list and the `auth.ok` capability payload.
pub fn negotiate_capability(
    requested: Option<&Value>,
    shm_available: bool,
) -> (Vec<String>, Option<Vec<String>>) {
    let requested: Vec<String> = match requested {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if requested.is_empty() {
        return (vec!["json".to_string()], None);
    }
    let mut negotiated: Vec<String> = requested
        .into_iter()
        .filter(|c| c == "json" || (c == "shm" && shm_available))
        .collect();
    if negotiated.is_empty() {
        negotiated.push("json".to_string());
    }
    (negotiated.clone(), Some(negotiated))
}

fn check_claims(claims: &Map<String, Value>, cfg: &AuthConfig, now: f64) -> Result<(), String> {
    for name in &cfg.required_claims {
        if !claims.contains_key(name) {
            return Err(format!("Missing required claim: '{name}'"));
        }
    }
    if let Some(exp) = claims.get("exp") {
        let exp = match exp {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| "Invalid 'exp' claim".to_string())?,
            _ => return Err("Invalid 'exp' claim".to_string()),
        };
        if now > exp + cfg.leeway_seconds {
            return Err("Token has expired".to_string());
        }
    }
    if let Some(issuer) = &cfg.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err("Invalid token issuer".to_string());
        }
    }
    if let Some(audience) = &cfg.audience {
        match claims.get("aud") {
            Some(Value::String(a)) if a == audience => {}
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err("Invalid token audience".to_string());
            }
            Some(Value::Array(items)) => {
                if !items.iter().all(Value::is_string) {
                    return Err("Invalid 'aud' claim".to_string());
                }
                if !items.iter().any(|i| i.as_str() == Some(audience.as_str())) {
                    return Err("Invalid token audience".to_string());
                }
            }
            Some(_) => return Err("Invalid 'aud' claim".to_string()),
        }
    }
    Ok(())
}

/// Decodes the claims of a compact JWT without checking its signature.
pub fn decode_claims(token: &str) -> Option<Map<String, Value>> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let header = base64url_decode(parts[0])?;
    serde_json::from_slice::<Map<String, Value>>(&header).ok()?;
    let body = base64url_decode(parts[1])?;
    serde_json::from_slice::<Map<String, Value>>(&body).ok()
}

/// Decodes unpadded or padded base64url.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strict() -> AuthConfig {
        AuthConfig {
            mode: AuthMode::StrictClaimsOnly,
            required_claims: vec!["sub".into()],
            issuer: Some("tcm-test-issuer".into()),
            audience: Some("tcm-test-aud".into()),
            ..AuthConfig::default()
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn b64(s: &str) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |a, (i, &x)| a | (u32::from(x) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn token(claims: Value) -> String {
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&claims.to_string()))
    }

    #[test]
    fn base64url_round_trips() {
        assert_eq!(
            base64url_decode(&b64("hello world!?")).unwrap(),
            b"hello world!?"
        );
    }

    #[test]
    fn simple_mode_defaults_roles_and_ignores_identity() {
        let out = authenticate(
            &obj(json!({"client":{"sub":"s","tenant_id":"t","roles":[]}})),
            &AuthConfig::default(),
            true,
            0.0,
        );
        let AuthOutcome::Accepted {
            context,
            reply_capability,
        } = out
        else {
            panic!()
        };
        assert_eq!(context.roles, ["inference", "management"]);
        assert_eq!(context.sub, None);
        assert_eq!(reply_capability, None);
        assert_eq!(context.capability, ["json"]);
    }

    #[test]
    fn simple_mode_requiring_a_token_crashes_without_one() {
        let cfg = AuthConfig {
            require_token: true,
            ..AuthConfig::default()
        };
        assert_eq!(
            authenticate(&obj(json!({})), &cfg, true, 0.0),
            AuthOutcome::Crash
        );
    }

    #[test]
    fn capability_negotiation_follows_the_table() {
        let n = |v: Value, shm| negotiate_capability(Some(&v), shm).1;
        assert_eq!(n(json!([]), true), None);
        assert_eq!(n(json!("json"), true), None);
        assert_eq!(n(json!(["shm"]), true), Some(vec!["shm".to_string()]));
        assert_eq!(n(json!(["protobuf"]), true), Some(vec!["json".to_string()]));
        assert_eq!(
            n(json!(["json", "shm", "protobuf"]), true),
            Some(vec!["json".to_string(), "shm".to_string()])
        );
        assert_eq!(n(json!(["shm"]), false), Some(vec!["json".to_string()]));
    }

    #[test]
    fn strict_mode_checks_claims_in_order() {
        let cfg = strict();
        let reason = |p: Value| match authenticate(&obj(p), &cfg, false, 1000.0) {
            AuthOutcome::TokenRejected(t) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(json!({})),
            "Invalid token: Missing token in auth payload"
        );
        assert_eq!(
            reason(json!({"token":"not-a-jwt"})),
            "Invalid token: Invalid token format"
        );
        assert_eq!(
            reason(json!({"token": token(json!({"iss":"tcm-test-issuer"}))})),
            "Invalid token: Missing required claim: 'sub'"
        );
        assert_eq!(
            reason(json!({"token": token(json!({"sub":"a","exp":1}))})),
            "Invalid token: Token has expired"
        );
        assert_eq!(
            reason(json!({"token": token(json!({"sub":"a","exp":"soon"}))})),
            "Invalid token: Invalid 'exp' claim"
        );
        assert_eq!(
            reason(json!({"token": token(json!({"sub":"a","iss":"x"}))})),
            "Invalid token: Invalid token issuer"
        );
        assert_eq!(
            reason(json!({"token": token(json!({"sub":"a","iss":"tcm-test-issuer","aud":"x"}))})),
            "Invalid token: Invalid token audience"
        );
        assert_eq!(
            reason(json!({"token": token(json!({"sub":"a","iss":"tcm-test-issuer","aud":5}))})),
            "Invalid token: Invalid 'aud' claim"
        );
    }

    #[test]
    fn strict_mode_takes_identity_from_claims_only() {
        let t = token(
            json!({"sub":"bob","tenant":"t2","role":"management","iss":"tcm-test-issuer","aud":["tcm-test-aud","x"]}),
        );
        let out = authenticate(
            &obj(json!({"token": t, "client": {"roles": ["admin"]}})),
            &strict(),
            false,
            0.0,
        );
        let AuthOutcome::Accepted { context, .. } = out else {
            panic!("{out:?}")
        };
        assert_eq!(context.sub.as_deref(), Some("bob"));
        assert_eq!(context.tenant_id.as_deref(), Some("t2"));
        assert_eq!(context.roles, ["management"]);
    }

    #[test]
    fn strict_mode_outside_development_is_a_configuration_error() {
        let cfg = AuthConfig {
            env: "staging".into(),
            ..strict()
        };
        assert!(
            matches!(authenticate(&obj(json!({})), &cfg, false, 0.0), AuthOutcome::ConfigurationError(t) if t.contains("TCM_ENV='staging'"))
        );
    }
}
