//! What one player checks: every broadcast it receives comes from a known
//! player, with that player's next sequence number (nothing lost, order
//! kept) and the exact position that player computes for it (nothing
//! corrupted).

use super::position_of;
use crate::lessons::lesson12_room::protocol::PositionUpdate;

/// Checks the broadcasts one player receives.
#[derive(Debug, Clone)]
pub struct BroadcastVerifier {
    /// The next sequence number expected from each player.
    next_seq: Vec<u32>,
    /// Updates each player sends.
    per_player: u32,
    /// Broadcasts that passed every check.
    received: u64,
    /// The first thing found wrong, if any.
    problem: Option<String>,
}

impl BroadcastVerifier {
    /// A verifier for a room of `players` players sending `per_player` updates each.
    pub fn new(players: usize, per_player: u32) -> BroadcastVerifier {
        BroadcastVerifier {
            next_seq: vec![0; players],
            per_player,
            received: 0,
            problem: None,
        }
    }

    /// Checks one update. Returns false, and records why, at the first bad
    /// one; after that every update is refused.
    pub fn check(&mut self, update: &PositionUpdate) -> bool {
        if self.problem.is_some() {
            return false;
        }
        let Some(next) = self.next_seq.get_mut(update.player as usize) else {
            self.problem = Some(format!("unknown player {}", update.player));
            return false;
        };
        let problem = if update.seq != *next {
            Some(format!(
                "from player {}: seq {}, expected {} (lost or out of order)",
                update.player, update.seq, next
            ))
        } else if update.seq >= self.per_player {
            Some(format!(
                "from player {}: more than {} updates",
                update.player, self.per_player
            ))
        } else {
            let (x, y) = position_of(update.player, update.seq);
            (x.to_bits() != update.x.to_bits() || y.to_bits() != update.y.to_bits()).then(|| {
                format!(
                    "from player {} seq {}: wrong position",
                    update.player, update.seq
                )
            })
        };
        match problem {
            Some(problem) => {
                self.problem = Some(problem);
                false
            }
            None => {
                *next += 1;
                self.received += 1;
                true
            }
        }
    }

    /// Broadcasts that passed every check.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Broadcasts this player expects in all.
    pub fn expected(&self) -> u64 {
        self.next_seq.len() as u64 * u64::from(self.per_player)
    }

    /// Whether every expected broadcast has arrived.
    pub fn complete(&self) -> bool {
        self.received == self.expected()
    }

    /// The first problem found, if any.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::position_of;

    fn update(player: u32, seq: u32) -> PositionUpdate {
        let (x, y) = position_of(player, seq);
        PositionUpdate {
            player,
            seq,
            x,
            y,
            sent_at_ns: 0,
        }
    }

    #[test]
    fn verifier_accepts_interleaved_senders_in_order() {
        let mut v = BroadcastVerifier::new(2, 2);
        for u in [update(0, 0), update(1, 0), update(1, 1), update(0, 1)] {
            assert!(v.check(&u), "{:?}", v.problem());
        }
        assert!(v.complete());
    }

    #[test]
    fn verifier_finds_loss_reordering_corruption_and_extras() {
        let mut lost = BroadcastVerifier::new(1, 3);
        assert!(lost.check(&update(0, 0)));
        assert!(!lost.check(&update(0, 2)));
        assert!(lost.problem().unwrap().contains("expected 1"));

        let mut corrupt = BroadcastVerifier::new(1, 3);
        let mut bad = update(0, 0);
        bad.x += 1.0;
        assert!(!corrupt.check(&bad));

        let mut extra = BroadcastVerifier::new(1, 1);
        assert!(extra.check(&update(0, 0)));
        assert!(!extra.check(&update(0, 1)));

        let mut stranger = BroadcastVerifier::new(1, 1);
        assert!(!stranger.check(&update(5, 0)));
    }
}
