//! Capability negotiation (TCM §5.2): what the client asked for and what `auth.ok` granted.

/// The capabilities negotiated for one connection.
///
/// A legacy `auth.ok` without a payload means `json` only. The server never enforces the
/// list, so the client does: an SHM input without a negotiated `shm` is refused locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities(Vec<String>);

impl Capabilities {
    /// The `json` capability.
    pub const JSON: &'static str = "json";
    /// The `shm` capability.
    pub const SHM: &'static str = "shm";

    /// From the `capability` list of `auth.ok`; `None` (the legacy shape) means `json` only.
    pub fn from_auth_ok(capability: Option<Vec<String>>) -> Self {
        match capability {
            Some(list) if !list.is_empty() => Self(list),
            _ => Self(vec![Self::JSON.to_owned()]),
        }
    }

    /// Whether `name` was negotiated.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|c| c == name)
    }

    /// Whether shared-memory inputs may be sent.
    pub fn shm(&self) -> bool {
        self.contains(Self::SHM)
    }

    /// The list in the server's order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_auth_ok_means_json_only() {
        let c = Capabilities::from_auth_ok(None);
        assert_eq!(c.as_slice(), ["json"]);
        assert!(!c.shm());
    }

    #[test]
    fn negotiated_list_is_kept_in_server_order() {
        let c = Capabilities::from_auth_ok(Some(vec!["shm".into()]));
        assert!(c.shm());
        assert!(!c.contains("json"));
    }
}
