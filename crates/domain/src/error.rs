//! Validation errors that name the field they concern, in wire (camelCase) notation such as
//! `links[2].url`. The HTTP layer turns them into problem details; nothing here knows HTTP.
//!
//! Two kinds: input that is invalid whatever the state (a bad URL, an empty title: the API
//! description's schema says so too), and input that is well formed but conflicts with the
//! current state (a reserved or taken name, a link id this profile does not have, a position
//! past the end). The API answers the first with 422 and the second with 409.
//! Must not: carry a cause meant for the operator (those stay in the log), or know HTTP.

use std::fmt;

/// One rejected field and why, in words meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path in the request, such as `links[2].url`.
    #[schema(example = "links[2].url")]
    pub field: String,
    #[schema(example = "scheme 'javascript' is not allowed: use http, https, mailto or tel")]
    pub message: String,
    /// Well formed, but in conflict with the current state.
    #[serde(skip)]
    pub conflict: bool,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            conflict: false,
        }
    }

    /// Well-formed input that the current state refuses.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            conflict: true,
            ..Self::new(field, message)
        }
    }

    /// The same error, reported under a parent path: `url` inside `links[2]` becomes `links[2].url`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every field error found in one input, so a client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// Keeps the value when it parsed, records the error otherwise.
    pub fn check<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every error is a conflict with the current state (none is invalid input).
    pub fn is_conflict(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|e| e.conflict)
    }

    /// `Ok(v)` when nothing was recorded.
    pub fn into_result<T>(self, v: T) -> Result<T, Self> {
        if self.0.is_empty() { Ok(v) } else { Err(self) }
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}
