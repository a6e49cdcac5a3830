//! Reusable reply slots for the multiplexed connection: a slab of "where my reply goes" entries,
//! kept under the connection's state lock, so waiting for a reply needs no allocation and no
//! synchronisation beyond that one lock (which the enqueue and the reader take anyway).

use std::task::{Context, Poll, Waker};

/// One entry of the table.
enum Slot<T> {
    /// On the free list.
    Free,
    /// The caller waits; the waker is set once it has been polled.
    Waiting(Option<Waker>),
    /// The caller's future was dropped; the reply is still due and is discarded when it comes.
    Abandoned,
    /// The reply came and waits for the caller to take it.
    Done(T),
}

/// A slab of reply slots with a free list. Indices are handed to callers; an index stays valid
/// (never reused) until its owner took the reply or gave the slot up.
pub(super) struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// Slots beyond this many are released once all of them are free again (after a burst).
const KEEP_SLOTS: usize = 1024;

impl<T> Slots<T> {
    /// An empty table; it grows to the most callers waiting at once.
    pub(super) fn new() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Takes a slot for a new caller, already holding its waker.
    pub(super) fn alloc(&mut self, waker: Option<Waker>) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Slot::Waiting(waker);
                i
            }
            None => {
                self.slots.push(Slot::Waiting(waker));
                self.slots.len() - 1
            }
        }
    }

    fn release(&mut self, i: usize) {
        self.slots[i] = Slot::Free;
        self.free.push(i);
        if self.free.len() == self.slots.len() && self.slots.len() > KEEP_SLOTS {
            // Nobody holds an index: the table can shrink back after a burst.
            self.slots = Vec::new();
            self.free = Vec::new();
        }
    }

    /// Delivers the reply of slot `i`. The caller's waker (if any) goes to `wake`, to be woken
    /// once the lock is released; an abandoned slot is freed and the reply dropped.
    pub(super) fn complete(&mut self, i: usize, value: T, wake: &mut Vec<Waker>) {
        match std::mem::replace(&mut self.slots[i], Slot::Done(value)) {
            Slot::Waiting(Some(w)) => wake.push(w),
            Slot::Waiting(None) => {}
            Slot::Abandoned => self.release(i),
            stale @ (Slot::Free | Slot::Done(_)) => {
                debug_assert!(false, "reply slot {i} completed twice or while free");
                // Leave the table as it was (a free slot is already on the free list).
                self.slots[i] = stale;
            }
        }
    }

    /// The caller polls slot `i`: takes the reply (freeing the slot) or records the waker.
    pub(super) fn poll_take(&mut self, i: usize, cx: &mut Context<'_>) -> Poll<T> {
        match std::mem::replace(&mut self.slots[i], Slot::Free) {
            Slot::Done(v) => {
                self.release(i);
                Poll::Ready(v)
            }
            Slot::Waiting(w) => {
                let w = match w {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                self.slots[i] = Slot::Waiting(Some(w));
                Poll::Pending
            }
            other => {
                debug_assert!(false, "reply slot {i} polled after it was given up");
                self.slots[i] = other;
                Poll::Pending
            }
        }
    }

    /// The caller gives slot `i` up without taking the reply: freed now if the reply already
    /// came, else marked so the reply is discarded when it comes.
    pub(super) fn abandon(&mut self, i: usize) {
        match self.slots[i] {
            Slot::Waiting(_) => self.slots[i] = Slot::Abandoned,
            Slot::Done(_) => self.release(i),
            Slot::Free | Slot::Abandoned => debug_assert!(false, "reply slot {i} given up twice"),
        }
    }

    /// Slots currently handed out (shown by `Debug`).
    pub(super) fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountWake(AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<CountWake>, Waker) {
        let c = Arc::new(CountWake(AtomicUsize::new(0)));
        (Arc::clone(&c), Waker::from(c))
    }

    #[test]
    fn reply_reaches_the_waiting_caller_and_the_slot_is_reused() {
        let (count, w) = waker();
        let mut s: Slots<u32> = Slots::new();
        let i = s.alloc(Some(w.clone()));
        let mut cx = Context::from_waker(&w);
        assert!(s.poll_take(i, &mut cx).is_pending());
        let mut wake = Vec::new();
        s.complete(i, 7, &mut wake);
        assert_eq!(wake.len(), 1);
        wake.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(s.poll_take(i, &mut cx), Poll::Ready(7));
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.alloc(None), i, "a freed slot is reused");
    }

    #[test]
    fn abandoned_slots_are_freed_whenever_the_reply_is_settled() {
        let mut s: Slots<u32> = Slots::new();
        let mut wake = Vec::new();
        let before = s.alloc(None);
        s.abandon(before);
        assert_eq!(s.in_use(), 1, "the reply is still due");
        s.complete(before, 1, &mut wake);
        assert_eq!(s.in_use(), 0);
        let after = s.alloc(None);
        s.complete(after, 2, &mut wake);
        s.abandon(after);
        assert_eq!(s.in_use(), 0);
        assert!(wake.is_empty());
    }

    #[test]
    fn the_table_shrinks_after_a_burst() {
        let mut s: Slots<u32> = Slots::new();
        let ids: Vec<usize> = (0..KEEP_SLOTS + 10).map(|_| s.alloc(None)).collect();
        let mut wake = Vec::new();
        for &i in &ids {
            s.abandon(i);
            s.complete(i, 0, &mut wake);
        }
        assert_eq!(s.in_use(), 0);
        assert!(s.slots.is_empty());
    }
}
