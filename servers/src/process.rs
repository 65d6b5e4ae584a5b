//! Starting a server binary as a child process and waiting until it is ready: the shared `harness` crate's,
//! re-exported for the tests of this package and of the clients.

pub use harness::bins::workspace_binary;
pub use harness::process::{parse_listening_line, OutputTail, ServerProcess};
