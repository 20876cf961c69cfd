//! Event ids: a UUIDv7 per event (time-ordered), its random part from a splitmix64 sequence, so
//! an event id costs no system call. Must not: be used where an id must be unguessable.

use uuid::Uuid;

pub(crate) struct EventIds {
    state: u64,
}

impl EventIds {
    /// A sequence seeded from the operating system's randomness.
    pub(crate) fn new() -> Self {
        let seed = Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .map(u64::from_le_bytes)
            .unwrap_or_default();
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The id of an event at `at_ms`.
    pub(crate) fn next(&mut self, at_ms: u64) -> Uuid {
        let (a, b) = (self.next_u64().to_le_bytes(), self.next_u64().to_le_bytes());
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&a);
        random[8..].copy_from_slice(&b[..2]);
        uuid::Builder::from_unix_timestamp_millis(at_ms, &random).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::EventIds;

    #[test]
    fn ids_are_version_7_distinct_and_carry_their_time() {
        let mut ids = EventIds::new();
        let a = ids.next(1_700_000_000_000);
        let b = ids.next(1_700_000_000_000);
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 7);
        let (secs, _) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000);
    }
}
