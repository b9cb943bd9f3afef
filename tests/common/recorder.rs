//! Sessions: a handler that records what it hears, in order.

use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};

use servercore::Backpressure;
use servercore::packet::FrameError;
use servercore::session::{DisconnectReason, Handler};
use servercore::{Lesson, Packet, Session};

use super::TIMEOUT;

/// How a session ended, as the recorder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// [`DisconnectReason::PeerClosed`].
    PeerClosed,
    /// [`DisconnectReason::Local`].
    Local,
    /// [`DisconnectReason::BadPacket`].
    BadPacket(FrameError),
    /// Any other reason, as its `Debug` text.
    Other(String),
}

/// One handler callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `on_connected`.
    Connected,
    /// `on_packet`.
    Packet(Packet),
    /// `on_disconnected`.
    Disconnected(Ended),
}

/// A [`Handler`] that records every callback in order and lets a test wait
/// (with a timeout) for what it expects. Optionally echoes every packet back
/// through the session, from inside the callback.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every callback so far, in the order they ran.
    events: Mutex<Vec<Event>>,
    /// Signalled after every new event.
    event_added: Condvar,
    /// Whether `on_packet` sends the packet back.
    echo: bool,
}

impl Recorder {
    /// A recorder that only records.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// A recorder that also echoes every packet back to the peer.
    pub fn echoing() -> Arc<Recorder> {
        Arc::new(Recorder {
            echo: true,
            ..Recorder::default()
        })
    }

    /// The callbacks so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// How many `on_disconnected` callbacks ran.
    pub fn disconnects(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Event::Disconnected(_)))
            .count()
    }

    /// Waits until `done(events)` holds; panics after [`TIMEOUT`], naming `what`.
    pub fn wait_until(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let events = self.events.lock().unwrap();
        let (events, waited) = self
            .event_added
            .wait_timeout_while(events, TIMEOUT, |events| !done(events))
            .unwrap();
        assert!(
            !waited.timed_out(),
            "timed out waiting for {what}: {:?}",
            *events
        );
        events.clone()
    }

    /// Waits for the first `on_disconnected` and returns how the session ended.
    pub fn wait_disconnected(&self) -> Ended {
        let events = self.wait_until("on_disconnected", |events| {
            events.iter().any(|e| matches!(e, Event::Disconnected(_)))
        });
        events
            .into_iter()
            .find_map(|e| match e {
                Event::Disconnected(ended) => Some(ended),
                _ => None,
            })
            .unwrap()
    }

    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
        self.event_added.notify_all();
    }
}

impl Handler for Recorder {
    fn on_connected(&self, _session: &Arc<Session>) {
        self.push(Event::Connected);
    }

    fn on_packet(&self, session: &Arc<Session>, packet: Packet) {
        if self.echo {
            // Sending from inside a callback must work: no lock is held.
            let _ = session.send(packet.clone());
        }
        self.push(Event::Packet(packet));
    }

    fn on_disconnected(&self, _session: &Arc<Session>, reason: &DisconnectReason) {
        let ended = match reason {
            DisconnectReason::PeerClosed => Ended::PeerClosed,
            DisconnectReason::Local => Ended::Local,
            DisconnectReason::BadPacket(e) => Ended::BadPacket(e.clone()),
            other => Ended::Other(format!("{other:?}")),
        };
        self.push(Event::Disconnected(ended));
    }
}

/// Starts a session running `lesson` on `server`, reporting to `recorder`.
pub fn start_session(lesson: Lesson, server: TcpStream, recorder: &Arc<Recorder>) -> Arc<Session> {
    let handler: Arc<dyn Handler> = recorder.clone();
    Session::start(
        server,
        &lesson.session_config(Backpressure::unlimited()),
        handler,
    )
    .expect("start the session")
}
