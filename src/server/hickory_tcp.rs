//! The hickory transport's TCP listener: hickory's connection machinery (its message stream,
//! idle timeout and response handle, the same pieces hickory-server's own loop uses) behind our
//! accept loop and its [`Gate`]: the connection cap, the per-client share, shedding the
//! connection idle the longest (waiting for its next message), and the back-off when
//! descriptors run out. hickory-server
//! 0.26's `register_listener` has none of these: its accept loop retries at once on EMFILE
//! (a spinning core) and takes every connection until the descriptors are gone.

use std::io;
use std::sync::Arc;

use futures_util::StreamExt;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_server::net::tcp::TcpStream;
use hickory_server::net::xfer::{DnsStreamHandle, Protocol};
use hickory_server::proto::op::SerialMessage;
use hickory_server::server::{Request, RequestHandler, ResponseHandle, TimeoutStream};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::handler::EngineHandler;
use super::tcp::Gate;
use crate::engine::Transport;

/// Responses queued per connection before its client must read them.
const QUEUE: usize = 64;

/// Accepts connections until `stop` turns true; each is hickory's TCP stream answered by
/// `handler`, idle at most `idle` between queries.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<EngineHandler>,
    gate: Arc<Gate>,
    idle: std::time::Duration,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    while let Some((stream, peer, admitted)) = gate.next(&listener, &stop).await? {
        let handler = handler.clone();
        tokio::spawn(async move {
            let (messages, mut replies) =
                TcpStream::from_stream_with_buffer_size(AsyncIoTokioAsStd(stream), peer, QUEUE);
            let mut messages = TimeoutStream::new(messages, idle);
            // between messages the connection is idle: a full cap may close it to make room
            while let Some(Some(Ok(message))) = admitted.idle_until(messages.next()).await {
                let (bytes, src) = message.into_parts();
                match Request::from_bytes(bytes.clone(), src, Protocol::Tcp) {
                    Ok(request) => {
                        let response = ResponseHandle::new(src, replies.clone(), Protocol::Tcp);
                        handler
                            .handle_request::<_, TokioTime>(&request, response)
                            .await;
                    }
                    // hickory cannot read it: the engine answers the bytes (FORMERR, or
                    // nothing for what is not DNS, which also ends the connection)
                    Err(_) => match handler.answer_raw(&bytes, src, Transport::Tcp) {
                        Some(out) => {
                            if replies.send(SerialMessage::new(out, src)).is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                }
            }
            drop(admitted);
        });
    }
    Ok(())
}
