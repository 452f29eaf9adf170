//! hickory-server's `RequestHandler`, driving the same engine as our own loops.
//!
//! With `[dns] transport = "hickory"`, hickory-server owns the sockets (its UDP loop and TCP
//! accept loop) and hands each request to [`EngineHandler`]. The engine answers from the raw
//! request bytes, exactly as on our own transports; the response is then decoded and handed to
//! hickory's `ResponseHandler`, which encodes it again. That second encoding, a task and a channel
//! per UDP datagram, and the missing TCP connection cap are why our own transports are the
//! default (BENCHMARKS.md has the cost); this path stays for embedding the engine in a
//! hickory-server and as a reference the differential test also runs against.

use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Header, HeaderCounts, Message, MessageType, Metadata, ResponseCode,
};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::engine::{Outcome, Transport};
use crate::querylog::QueryLog;
use crate::state::State;

/// Answers hickory-server requests from the live snapshot.
pub struct EngineHandler {
    state: Arc<State>,
    log: Option<Arc<QueryLog>>,
}

impl EngineHandler {
    /// A handler over the shared state, logging sampled queries to `log`.
    pub fn new(state: Arc<State>, log: Option<Arc<QueryLog>>) -> EngineHandler {
        EngineHandler { state, log }
    }
}

impl EngineHandler {
    /// The engine's answer to a request's bytes (also those hickory could not read as a request);
    /// `None` when nothing is to be sent.
    pub(crate) fn answer_raw(
        &self,
        bytes: &[u8],
        src: std::net::SocketAddr,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let t0 = std::time::Instant::now();
        let mut out = Vec::with_capacity(512);
        let snap = self.state.load();
        let outcome = super::answer(
            &snap,
            bytes,
            src,
            transport,
            &mut out,
            Some(t0),
            self.log.as_deref(),
            None,
        )
        .outcome;
        (outcome != Outcome::Drop).then_some(out)
    }
}

fn failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for EngineHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let transport = match request.protocol() {
            Protocol::Udp => Transport::Udp,
            _ => Transport::Tcp,
        };
        let Some(out) = self.answer_raw(request.as_slice(), request.src(), transport) else {
            return failed(request);
        };
        let Ok(msg) = Message::from_vec(&out) else {
            return failed(request);
        };
        let builder = MessageResponseBuilder::new(&request.queries, msg.edns.as_ref());
        let response = builder.build(
            msg.metadata,
            msg.answers.iter(),
            msg.authorities.iter(),
            std::iter::empty(),
            msg.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "hickory send failed");
                failed(request)
            }
        }
    }
}
