//! Network transports: UDP and TCP listeners that feed packets to [`crate::engine::respond`], and
//! the adapter that lets hickory-server's `RequestHandler` drive the same engine.

pub mod handler;
pub mod tcp;
pub mod udp;

use std::io;

/// Errors after which a listening socket keeps working (a peer went away between SYN and
/// accept, or the process ran out of descriptors for a moment).
pub(crate) fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted
            | ConnectionReset
            | ConnectionRefused
            | Interrupted
            | WouldBlock
            | TimedOut
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) // ENFILE, EMFILE, ENOBUFS, ENOMEM
}
