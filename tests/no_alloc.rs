//! The query path allocates nothing once its output buffer has grown: a counting allocator
//! watches `engine::respond` answer every shape of query.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use geosteer::engine::{Limits, Transport, respond};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for l in name.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend(l.as_bytes());
    }
    v.push(0);
    v.extend(qtype.to_be_bytes());
    v.extend(1u16.to_be_bytes());
    v.extend([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    v
}

#[test]
fn respond_does_not_allocate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zones = geosteer::zone::load_dir(&root.join("zones")).unwrap();
    let client: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let packets: Vec<Vec<u8>> = [
        ("www.example.com", 1),
        ("example.com", 15),
        ("example.com", 2),
        ("blog.example.com", 1),
        ("a.customers.example.com", 28),
        ("nope.example.com", 1),
        ("host.lab.example.com", 1),
        ("_submission._tcp.example.com", 33),
        ("www.example.org", 1),
        ("example.com", 255),
    ]
    .iter()
    .map(|(n, t)| query(n, *t))
    .collect();
    let mut out = Vec::with_capacity(65_535);
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..100 {
        for p in &packets {
            respond(
                &zones,
                &Limits::default(),
                p,
                client,
                Transport::Udp,
                &mut out,
            );
            respond(
                &zones,
                &Limits::default(),
                p,
                client,
                Transport::Tcp,
                &mut out,
            );
        }
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations on the query path");
}
