//! `servercore room`: lesson 12's room behind the one server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{Server, ServerConfig, ShutdownReport};
use crate::lessons::lesson12_room::Room;
use crate::session::Handler;

/// `servercore room`: lesson 12's room behind this server. Every accepted
/// session joins the room (the room is its handler).
pub struct RoomServer {
    /// The room every session joins.
    room: Arc<Room>,
    /// The server that accepts them.
    server: Server,
}

impl RoomServer {
    /// Listens on `addr` (port 0: the OS picks) and starts accepting players
    /// into a room whose sessions start with `config`.
    pub fn start(addr: SocketAddr, config: &ServerConfig) -> io::Result<RoomServer> {
        let room = Room::new(config.lesson.number() as u8);
        let handler: Arc<dyn Handler> = Arc::clone(&room) as Arc<dyn Handler>;
        let server = Server::start(addr, config, handler)?;
        Ok(RoomServer { room, server })
    }

    /// The address players connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The room.
    pub fn room(&self) -> &Arc<Room> {
        &self.room
    }

    /// The server under the room: its sessions, refusals, ended sessions.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Stops accepting, closes every player's session (flushing what was
    /// broadcast to it), disconnects the rest after the grace period, joins
    /// every thread. Idempotent; also done on drop.
    pub fn shutdown(&mut self) -> ShutdownReport {
        let report = self.server.shutdown();
        self.room.close(); // nobody is left; a late joiner is refused
        report
    }
}

impl Drop for RoomServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
