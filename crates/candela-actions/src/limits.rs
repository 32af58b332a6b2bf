//! Bounds every run is held to.

use std::time::Duration;

/// The bounds of one run (a top-level action and every child it calls).
/// The defaults are Lit's node defaults (see DESIGN.md section 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time of the whole run, nested calls included.
    pub wall_time: Duration,
    /// Heap bytes of the whole run: every JavaScript runtime of the run (one
    /// per action, `Lit.Actions.call` children included) counts against one
    /// shared budget.
    pub memory_bytes: usize,
    /// Native stack bytes JavaScript may use (bounds recursion depth).
    pub stack_bytes: usize,
    /// Bytes of an action's source code.
    pub code_bytes: usize,
    /// Bytes of the response.
    pub response_bytes: usize,
    /// Bytes of all console output of the run.
    pub console_bytes: usize,
    /// `fetch` calls per run.
    pub fetches: u32,
    /// Signing requests per run (`signEcdsa`, `ethPersonalSignMessageEcdsa`, `signAndCombineEcdsa`).
    pub signatures: u32,
    /// Depth of nested `Lit.Actions.call` (the top-level action is depth 0).
    pub call_depth: u32,
    /// `broadcastAndCollect` / `decryptAndCombine` calls per run.
    pub broadcasts: u32,
    /// `Lit.Actions.callContract` calls per run (Lit's default is 30).
    pub contract_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: Duration::from_secs(30),
            memory_bytes: 256 * 1024 * 1024,
            stack_bytes: 1024 * 1024,
            code_bytes: 16 * 1024 * 1024,
            response_bytes: 100 * 1024,
            console_bytes: 100 * 1024,
            fetches: 75,
            signatures: 10,
            call_depth: 5,
            broadcasts: 30,
            contract_calls: 30,
        }
    }
}
