//! `geosteer explain`: why a client gets the answer it gets. It runs the real engine on a query
//! built from the question, with a [`Trace`], and prints what the engine recorded: the address it
//! located, the zone, the pool, each step of the selection and the answer itself. There is no
//! second selection and no second family mapping, so explain and the server cannot disagree.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RecordType};

use crate::engine::{self, Outcome, Transport};
use crate::net::mask;
use crate::select::Trace;
use crate::state::Snapshot;

/// The question to explain.
#[derive(Debug, Clone)]
pub struct Question {
    pub name: Name,
    pub qtype: RecordType,
    /// The resolver's (packet source) address.
    pub client: IpAddr,
    /// An EDNS Client Subnet, as a resolver would send it.
    pub ecs: Option<(IpAddr, u8)>,
}

impl Question {
    /// Reads a question as the command line and `/explain` give it: a client address, an
    /// optional `ADDRESS/PREFIX` subnet (host bits allowed, as dig allows them), a name and a
    /// type.
    pub fn parse(
        client: std::net::IpAddr,
        ecs: Option<&str>,
        name: &str,
        qtype: &str,
    ) -> Result<Question, String> {
        use std::str::FromStr;
        let name = hickory_proto::rr::Name::from_str(name)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| format!("'{name}' is not a domain name: {e}"))?;
        let qtype = hickory_proto::rr::RecordType::from_str(&qtype.to_ascii_uppercase())
            .map_err(|_| format!("'{qtype}' is not a record type"))?;
        let ecs = match ecs {
            None => None,
            Some(s) => {
                let net = crate::net::Net::parse(s).or_else(|_| {
                    // accept host bits in a subnet given on the command line, as dig does
                    let (a, l) = s
                        .split_once('/')
                        .ok_or(format!("'{s}' is not ADDRESS/PREFIX"))?;
                    let addr: std::net::IpAddr =
                        a.parse().map_err(|_| format!("'{a}' is not an address"))?;
                    let len: u8 = l
                        .parse()
                        .map_err(|_| format!("'{l}' is not a prefix length"))?;
                    if len > crate::net::family_bits(addr) {
                        return Err(format!("'{s}': prefix too long"));
                    }
                    Ok(crate::net::Net {
                        addr: crate::net::mask(addr, len),
                        len,
                    })
                })?;
                Some((net.addr, net.len))
            }
        };
        Ok(Question {
            name,
            qtype,
            client,
            ecs,
        })
    }
}

/// What the engine did with a question: its trace and its response.
#[derive(Debug)]
pub struct Explained {
    pub trace: Trace,
    /// The decoded response; `None` when the engine sent nothing.
    pub response: Option<Message>,
}

/// Runs the engine on `q` with a trace.
pub fn run(snap: &Snapshot, q: &Question) -> Explained {
    let mut trace = Trace::new();
    let qname = match crate::wire::name::parse(&q.name.to_ascii(), Some(&[0])) {
        Ok(n) => n,
        Err(e) => {
            trace.note(e);
            return Explained {
                trace,
                response: None,
            };
        }
    };
    let packet = crate::wire::query::build(0x4a11, &qname, u16::from(q.qtype), Some(1232), q.ecs);
    let mut out = Vec::new();
    let src = SocketAddr::new(q.client, 53);
    let outcome = engine::respond_traced(
        snap,
        &snap.limits,
        &packet,
        src,
        Transport::Udp,
        &mut out,
        Some(&mut trace),
    );
    let response = match outcome {
        Outcome::Reply { .. } => Message::from_vec(&out).ok(),
        Outcome::Drop => None,
    };
    Explained { trace, response }
}

/// An explanation: the question, every step the engine took (with what each GeoIP database says
/// under the step that located the client), and the answer. `/explain` sends it as JSON and
/// `geosteer explain` prints it as text, both from this one value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Doc {
    pub question: String,
    pub steps: Vec<Step>,
    /// `None`: the engine sent nothing.
    pub answer: Option<Answer>,
}

/// One step of the decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub step: String,
    /// Details under the step (what each GeoIP database says).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The response, decoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    pub rcode: String,
    pub authoritative: bool,
    /// The answer and authority records in presentation format.
    pub records: Vec<String>,
    /// The ECS scope returned and the network it covers.
    pub ecs_scope: Option<String>,
}

/// Explains the answer `snap` gives to `q`, step by step.
pub fn doc(snap: &Snapshot, q: &Question) -> Doc {
    let e = run(snap, q);
    let steps = e
        .trace
        .steps()
        .iter()
        .map(|step| Step {
            step: step.clone(),
            // what each database says about the address the engine located
            details: match e.trace.located() {
                Some(addr) if step.starts_with("GeoIP: ") => snap.geo.describe(addr),
                _ => Vec::new(),
            },
        })
        .collect();
    let answer = e.response.map(|msg| Answer {
        rcode: msg.metadata.response_code.to_string(),
        authoritative: msg.metadata.authoritative,
        records: msg
            .answers
            .iter()
            .chain(msg.authorities.iter())
            .map(ToString::to_string)
            .collect(),
        ecs_scope: msg
            .edns
            .as_ref()
            .and_then(|edns| match edns.option(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(sub)) => Some(format!(
                    "/{} (the answer holds for {}/{})",
                    sub.scope_prefix(),
                    mask(sub.addr(), sub.scope_prefix()),
                    sub.scope_prefix()
                )),
                _ => None,
            }),
    });
    Doc {
        question: format!("{} {} from {}", q.name, q.qtype, q.client),
        steps,
        answer,
    }
}

impl Doc {
    /// The explanation as `geosteer explain` prints it.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "question: {}", self.question);
        let _ = writeln!(s, "\nhow the server decided:");
        for step in &self.steps {
            let _ = writeln!(s, "  {}", step.step);
            for line in &step.details {
                let _ = writeln!(s, "    {line}");
            }
        }
        let Some(a) = &self.answer else {
            let _ = writeln!(s, "\nno answer");
            return s;
        };
        let _ = writeln!(
            s,
            "\nanswer: {}{}",
            a.rcode,
            if a.authoritative {
                ", authoritative"
            } else {
                ""
            }
        );
        for r in &a.records {
            let _ = writeln!(s, "  {r}");
        }
        if let Some(scope) = &a.ecs_scope {
            let _ = writeln!(s, "  ECS scope {scope}");
        }
        s
    }
}

/// Explains the answer `snap` gives to `q`, step by step, as text.
pub fn explain(snap: &Snapshot, q: &Question) -> String {
    doc(snap, q).text()
}
