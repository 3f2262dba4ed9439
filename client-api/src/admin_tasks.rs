//! What AppState keeps of the administrator's finished tasks (the admin API records and lists
//! them in `synapse_admin::tasks`).

use serde_json::{Value as JsonValue, json};

/// One finished task.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub id: String,
    /// Synapse's action names: `shutdown_and_purge_room`, `purge_history`,
    /// `redact_all_events`.
    pub action: &'static str,
    pub resource_id: String,
    pub timestamp_ms: u64,
    /// `complete` or `failed`.
    pub status: &'static str,
    pub result: JsonValue,
    pub error: Option<String>,
}

impl Task {
    pub(crate) fn json(&self) -> JsonValue {
        json!({
            "id": self.id,
            "action": self.action,
            "status": self.status,
            "timestamp_ms": self.timestamp_ms,
            "resource_id": self.resource_id,
            "result": self.result,
            "error": self.error,
        })
    }
}
