//! Error types: loading conversation files and failing a run.

use std::path::PathBuf;

use thiserror::Error;

/// Why a conversation file (or a directory of them) could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON or does not have the conversation layout.
    #[error("{path}: {source}")]
    Json {
        /// The offending file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The file parses as JSON but breaks a rule of the format (unknown step, bad modifier, ...).
    #[error("{path}: {message}")]
    Invalid {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, naming the step index where there is one.
        message: String,
    },
}

/// Why a conversation run failed: which conversation, which step, what was expected and what
/// arrived instead.
#[derive(Debug, Clone, Error)]
#[error("{conversation}: step {step} ({action} on {conn}): expected {expected}; got {actual}")]
pub struct RunFailure {
    /// Name of the conversation.
    pub conversation: String,
    /// Index of the failing step in `steps` (equal to the step count for the closing phase).
    pub step: usize,
    /// Action key of the failing step (`expect`, `send`, ...).
    pub action: &'static str,
    /// Connection name the step applies to.
    pub conn: String,
    /// What the step required.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
}
