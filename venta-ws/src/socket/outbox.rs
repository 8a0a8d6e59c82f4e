//! A socket's send queue: bounded, one reader (the socket's writer), and holding memory only
//! while frames wait.
//!
//! A tokio `mpsc` channel allocates its shared state and a first block of 32 slots when it is
//! created, about 2 KiB per socket, for a queue that is empty nearly all the time. This queue
//! is a `VecDeque` behind a lock: nothing is allocated until a frame waits, and a queue grown by
//! a burst gives its memory back once drained.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Message;
use tokio::sync::Notify;

/// The slots a drained queue keeps, so a socket that is sent a frame now and then does not
/// allocate for every one.
const RETAINED_SLOTS: usize = 4;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// `capacity` frames, or `max_bytes` of them, are already waiting.
    Full,
    /// The writer has ended; nothing will be sent any more.
    Closed,
}

#[derive(Debug, Default)]
struct Frames {
    waiting: VecDeque<Message>,
    /// The payload bytes of the waiting frames.
    bytes: usize,
    closed: bool,
}

/// A frame's payload size, as counted against the queue's byte limit.
fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        Message::Close(_) => 0,
    }
}

/// A bounded queue of frames with a single consumer.
#[derive(Debug)]
pub(crate) struct Outbox {
    frames: Mutex<Frames>,
    /// Woken when a frame is pushed; keeps one permit when nobody waits, so a push between
    /// the writer finding the queue empty and its waiting is not missed.
    pushed: Notify,
    capacity: usize,
    max_bytes: usize,
}

impl Outbox {
    /// An empty queue holding at most `capacity` frames and `max_bytes` of their payloads (a
    /// single frame larger than that is still taken into an empty queue).
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self { frames: Mutex::new(Frames::default()), pushed: Notify::new(), capacity, max_bytes }
    }

    fn lock(&self) -> MutexGuard<'_, Frames> {
        // Every critical section leaves the queue consistent, so a poisoned lock is still valid.
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame, unless the queue is full or closed.
    pub(crate) fn push(&self, message: Message) -> Result<(), PushError> {
        let mut frames = self.lock();
        if frames.closed {
            return Err(PushError::Closed);
        }
        let len = payload_len(&message);
        let over_bytes = !frames.waiting.is_empty() && frames.bytes.saturating_add(len) > self.max_bytes;
        if frames.waiting.len() >= self.capacity || over_bytes {
            return Err(PushError::Full);
        }
        frames.bytes += len;
        frames.waiting.push_back(message);
        drop(frames);
        self.pushed.notify_one();
        Ok(())
    }

    /// The oldest waiting frame, if any.
    pub(crate) fn try_pop(&self) -> Option<Message> {
        let mut frames = self.lock();
        let message = frames.waiting.pop_front();
        if let Some(message) = &message {
            frames.bytes -= payload_len(message);
        }
        if frames.waiting.is_empty() && frames.waiting.capacity() > RETAINED_SLOTS {
            frames.waiting = VecDeque::new();
        }
        message
    }

    /// Whether no frame waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().waiting.is_empty()
    }

    /// Resolves once a frame waits, without taking it. Only one task may wait.
    pub(crate) async fn ready(&self) {
        while self.is_empty() {
            self.pushed.notified().await;
        }
    }

    /// Refuses every later frame and drops the waiting ones: the writer has ended.
    pub(crate) fn close(&self) {
        let mut frames = self.lock();
        frames.closed = true;
        frames.waiting = VecDeque::new();
        frames.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::extract::ws::Utf8Bytes;

    use super::*;

    fn text(text: &'static str) -> Message {
        Message::Text(Utf8Bytes::from_static(text))
    }

    #[test]
    fn frames_come_out_in_order_up_to_the_capacity() {
        let outbox = Outbox::new(2, usize::MAX);
        assert_eq!(outbox.push(text("a")), Ok(()));
        assert_eq!(outbox.push(text("b")), Ok(()));
        assert_eq!(outbox.push(text("c")), Err(PushError::Full));
        assert_eq!(outbox.try_pop(), Some(text("a")));
        assert_eq!(outbox.push(text("c")), Ok(()));
        assert_eq!(outbox.try_pop(), Some(text("b")));
        assert_eq!(outbox.try_pop(), Some(text("c")));
        assert_eq!(outbox.try_pop(), None);
    }

    #[test]
    fn the_queue_is_bounded_by_bytes_as_well_as_frames() {
        let outbox = Outbox::new(100, 10);
        assert_eq!(outbox.push(text("0123456789abc")), Ok(()), "one frame larger than the limit fits alone");
        assert_eq!(outbox.push(text("x")), Err(PushError::Full));
        outbox.try_pop();
        for _ in 0..10 {
            outbox.push(text("x")).expect("room");
        }
        assert_eq!(outbox.push(text("x")), Err(PushError::Full), "ten bytes wait");
        outbox.try_pop();
        assert_eq!(outbox.push(text("x")), Ok(()));
    }

    #[test]
    fn an_idle_queue_holds_no_memory_and_a_drained_burst_gives_it_back() {
        let outbox = Outbox::new(256, usize::MAX);
        assert_eq!(outbox.lock().waiting.capacity(), 0);
        for _ in 0..100 {
            outbox.push(text("x")).expect("room");
        }
        while outbox.try_pop().is_some() {}
        assert_eq!(outbox.lock().waiting.capacity(), 0);
    }

    #[test]
    fn a_closed_queue_refuses_frames_and_drops_the_waiting_ones() {
        let outbox = Outbox::new(4, usize::MAX);
        outbox.push(text("a")).expect("room");
        outbox.close();
        assert_eq!(outbox.try_pop(), None);
        assert_eq!(outbox.push(text("b")), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_a_push() {
        let outbox = Arc::new(Outbox::new(4, usize::MAX));
        let reader = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move {
                outbox.ready().await;
                let first = outbox.try_pop();
                outbox.ready().await;
                (first, outbox.try_pop())
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        outbox.push(text("a")).expect("room");
        outbox.push(text("b")).expect("room");
        let popped = tokio::time::timeout(Duration::from_secs(5), reader).await.expect("woken").expect("no panic");
        assert_eq!(popped, (Some(text("a")), Some(text("b"))));
    }
}
