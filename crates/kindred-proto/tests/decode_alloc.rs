//! Element counts are enforced while decoding: a hostile sync answer is
//! refused before the decoder builds it (measured with a counting
//! allocator, so this file is its own test binary).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kindred_proto::sync::{SyncRequest, SyncResponse, MAX_IDS, MAX_RESPONSE_BYTES};

// Counted per thread: the harness runs this binary's tests side by side,
// and one test's allocations must not count in another's measurement.
// (A const-initialised Cell needs no allocation and no destructor, so the
// allocator may use it.)
thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + l.size() as isize;
            live.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get() - l.size() as isize));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// `{"Heads": {"heads": [n items of `item`]}}` with a definite-length array.
fn heads_answer(n: u32, item: &[u8]) -> Vec<u8> {
    let mut b = vec![0xa1, 0x65];
    b.extend_from_slice(b"Heads");
    b.extend_from_slice(&[0xa1, 0x65]);
    b.extend_from_slice(b"heads");
    b.push(0x9a);
    b.extend_from_slice(&n.to_be_bytes());
    for _ in 0..n {
        b.extend_from_slice(item);
    }
    b
}

/// Peak bytes this thread allocated while decoding, above what was live
/// before.
fn peak_while(f: impl FnOnce()) -> usize {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    f();
    (PEAK.with(Cell::get) - before).max(0) as usize
}

#[test]
fn four_mib_of_empty_ids_is_refused_without_building_them() {
    // 4 MiB less the header: ~4.2 million empty byte strings.
    let n = (MAX_RESPONSE_BYTES - 20) as u32;
    let bytes = heads_answer(n, &[0x40]);
    assert!(bytes.len() <= MAX_RESPONSE_BYTES);
    let peak = peak_while(|| {
        let r = SyncResponse::decode(&bytes);
        assert!(r.is_err(), "an empty id must be refused");
    });
    assert!(peak < 64 * 1024, "decoding allocated {peak} bytes");
}

#[test]
fn more_than_the_cap_of_real_ids_is_refused_at_the_first_extra() {
    let mut id = vec![0x58, 32];
    id.extend_from_slice(&[7; 32]);
    let ok = heads_answer(MAX_IDS as u32, &id);
    assert!(matches!(
        SyncResponse::decode(&ok),
        Ok(SyncResponse::Heads { heads }) if heads.len() == MAX_IDS
    ));
    let n = (MAX_RESPONSE_BYTES / id.len()) as u32 - 1;
    let many = heads_answer(n, &id);
    let peak = peak_while(|| {
        let r = SyncResponse::decode(&many);
        assert!(r.is_err(), "{n} ids must be refused");
    });
    assert!(peak < 64 * 1024, "decoding allocated {peak} bytes");
}

#[test]
fn a_fetch_with_too_many_wanted_ids_is_refused() {
    let mut b = vec![0xa1, 0x65];
    b.extend_from_slice(b"Fetch");
    b.extend_from_slice(&[0xa3, 0x63]);
    b.extend_from_slice(b"tag");
    b.extend_from_slice(&[0x58, 32]);
    b.extend_from_slice(&[1; 32]);
    b.push(0x64);
    b.extend_from_slice(b"want");
    b.extend_from_slice(&[0x98, 65]);
    for _ in 0..65 {
        b.extend_from_slice(&[0x58, 32]);
        b.extend_from_slice(&[2; 32]);
    }
    b.push(0x64);
    b.extend_from_slice(b"have");
    b.push(0x80);
    assert!(SyncRequest::decode(&b).is_err());
}

/// The measure itself: a mebibyte allocated on this thread is seen, and
/// another thread's allocations at the same moment are not.
#[test]
fn the_counter_sees_this_thread_and_only_this_thread() {
    let seen = peak_while(|| {
        std::hint::black_box(vec![0u8; 1 << 20]);
    });
    assert!(seen >= 1 << 20, "saw {seen} bytes");
    let other = peak_while(|| {
        std::thread::scope(|s| {
            s.spawn(|| std::hint::black_box(vec![0u8; 4 << 20]));
        });
    });
    assert!(other < 1 << 20, "counted another thread's {other} bytes");
}
