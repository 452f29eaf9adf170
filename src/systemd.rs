//! The systemd notification protocol (`sd_notify`, `Type=notify`): `READY=1` once the server
//! answers, `RELOADING=1` with `MONOTONIC_USEC` and then `READY=1` around a reload, `STOPPING=1`
//! on shutdown. A datagram to the socket named by `$NOTIFY_SOCKET` (a path, or `@` for an
//! abstract name); without that variable every call does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Sends one notification (`KEY=value` lines). Errors are returned for the caller to log: a
/// service manager that cannot be told is not a reason to stop serving.
pub fn notify(message: &str) -> io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let sock = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(message.as_bytes(), &addr)?;
            return Ok(());
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(io::Error::other("abstract sockets exist on Linux only"));
        }
    }
    sock.send_to(message.as_bytes(), &path)?;
    Ok(())
}

/// `CLOCK_MONOTONIC` in microseconds, as `MONOTONIC_USEC` wants it.
pub fn monotonic_usec() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs * 1_000_000 + nanos / 1_000
}

/// Logs a notification that could not be sent.
pub fn notify_or_log(message: &str) {
    if let Err(e) = notify(message) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a);
    }
}
