//! The governance event sink: one place where everything an auditor may care
//! about is reported (an upstream started, crashed or was given up; a call
//! was refused; a tool list changed).
//!
//! Every event goes to the log (target `toolgate::governance`, level info or
//! warn), and to the process's recorder when one is set: `serve` records the
//! state of each upstream in the local store, for `toolgate servers`. The
//! audit trail will persist events from here too, so callers never need to
//! change: they call [`emit`] and nothing else.

use std::sync::OnceLock;

type Recorder = Box<dyn Fn(&Event<'_>) + Send + Sync>;

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Sets the process's recorder (once; later calls are ignored). It must not
/// block: it runs on the caller's thread.
pub fn set_recorder(recorder: impl Fn(&Event<'_>) + Send + Sync + 'static) {
    let _ = RECORDER.set(Box::new(recorder));
}

/// A governance event. Borrowed fields: emitting never allocates on the caller's side.
#[derive(Debug)]
pub enum Event<'a> {
    /// An upstream finished its handshake.
    ServerReady {
        server: &'a str,
        protocol_version: &'a str,
        tools: usize,
        millis: u128,
    },
    /// An upstream could not be started.
    ServerFailed { server: &'a str, error: &'a str },
    /// A running upstream went away.
    ServerCrashed { server: &'a str, error: &'a str },
    /// An upstream's tool list changed while it ran.
    ToolsChanged { server: &'a str, tools: usize },
    /// The org profile does not let a server run (or blocked it).
    ServerBlocked { server: &'a str, reason: &'a str },
    /// A tool's definition no longer matches its pin in the org profile.
    ToolDrifted {
        server: &'a str,
        tool: &'a str,
        fields: &'a [String],
    },
    /// The poisoning scan quarantined a tool.
    ToolQuarantined {
        server: &'a str,
        tool: &'a str,
        codes: &'a str,
    },
    /// A call the policy lets through but flags (`observe`).
    CallObserved {
        server: &'a str,
        tool: &'a str,
        rule: &'a str,
    },
    /// A guardrail rule matched a call's arguments or result.
    Guardrail {
        server: &'a str,
        tool: &'a str,
        rule: &'a str,
        direction: &'a str,
        action: &'a str,
    },
    /// A call was held for a person's approval (step-up).
    ApprovalHeld {
        id: &'a str,
        server: &'a str,
        tool: &'a str,
        rule: &'a str,
        timeout_secs: u64,
    },
    /// A held call was answered or gave up waiting: `outcome` approved,
    /// rejected, timed out, cancelled; `by` the OS user and `channel` (tui,
    /// cli, ide, session) where a person answered.
    ApprovalDecided {
        id: &'a str,
        server: &'a str,
        tool: &'a str,
        outcome: &'a str,
        by: &'a str,
        channel: &'a str,
        waited_ms: u64,
        reason: &'a str,
    },
    /// A request was refused before reaching any upstream.
    CallRefused {
        method: &'a str,
        name: &'a str,
        reason: &'a str,
    },
}

/// Reports an event.
pub fn emit(event: Event<'_>) {
    if let Some(record) = RECORDER.get() {
        record(&event);
    }
    crate::audit::record_event(&event);
    match event {
        Event::ServerReady {
            server,
            protocol_version,
            tools,
            millis,
        } => tracing::info!(
            target: "toolgate::governance",
            event = "server.ready",
            server,
            protocol_version,
            tools,
            millis = millis as u64,
            "server \"{server}\" is ready ({tools} tools, {millis} ms)"
        ),
        Event::ServerFailed { server, error } => tracing::warn!(
            target: "toolgate::governance",
            event = "server.failed",
            server,
            "{error}"
        ),
        Event::ServerCrashed { server, error } => tracing::warn!(
            target: "toolgate::governance",
            event = "server.crashed",
            server,
            "{error}"
        ),
        Event::ToolsChanged { server, tools } => tracing::info!(
            target: "toolgate::governance",
            event = "tools.changed",
            server,
            tools,
            "server \"{server}\" now lists {tools} tools"
        ),
        Event::ServerBlocked { server, reason } => tracing::warn!(
            target: "toolgate::governance",
            event = "server.blocked",
            server,
            "{reason}"
        ),
        Event::ToolDrifted {
            server,
            tool,
            fields,
        } => tracing::warn!(
            target: "toolgate::governance",
            event = "tool.drifted",
            server,
            tool,
            "the tool \"{tool}\" of \"{server}\" no longer matches its pin (changed: {}); withheld",
            fields.join(", ")
        ),
        Event::ToolQuarantined {
            server,
            tool,
            codes,
        } => tracing::warn!(
            target: "toolgate::governance",
            event = "tool.quarantined",
            server,
            tool,
            "the tool \"{tool}\" of \"{server}\" is quarantined: signs of tool poisoning ({codes})"
        ),
        Event::CallObserved { server, tool, rule } => tracing::info!(
            target: "toolgate::governance",
            event = "call.observed",
            server,
            tool,
            rule,
            "the call to \"{tool}\" of \"{server}\" is allowed and flagged (policy: {rule})"
        ),
        Event::Guardrail {
            server,
            tool,
            rule,
            direction,
            action,
        } => tracing::warn!(
            target: "toolgate::governance",
            event = "guardrail",
            server,
            tool,
            rule,
            direction,
            action,
            "guardrail {rule} matched the {direction} of \"{tool}\" of \"{server}\" ({action})"
        ),
        Event::ApprovalHeld {
            id,
            server,
            tool,
            rule,
            timeout_secs,
        } => tracing::info!(
            target: "toolgate::governance",
            event = "approval.held",
            id,
            server,
            tool,
            rule,
            timeout_secs,
            "the call {id} to \"{tool}\" of \"{server}\" waits for approval (rule {rule}; up to {timeout_secs} s): run toolgate approve"
        ),
        Event::ApprovalDecided {
            id,
            server,
            tool,
            outcome,
            by,
            channel,
            waited_ms,
            reason,
        } => tracing::info!(
            target: "toolgate::governance",
            event = "approval.decided",
            id,
            server,
            tool,
            outcome,
            by,
            channel,
            waited_ms,
            reason,
            "the call {id} to \"{tool}\" of \"{server}\": {outcome} after {waited_ms} ms"
        ),
        Event::CallRefused {
            method,
            name,
            reason,
        } => tracing::info!(
            target: "toolgate::governance",
            event = "call.refused",
            method,
            name,
            "{reason}"
        ),
    }
}
