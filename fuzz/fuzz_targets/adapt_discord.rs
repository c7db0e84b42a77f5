//! The Discord adapter (interactions and webhook events) on arbitrary JSON
//! in an envelope, under every known event name (no control bytes) or a
//! fuzzed one. Never panics; events stay within the canonical text limits.
#![no_main]

use canonical_event::Platform;
use libfuzzer_sys::fuzz_target;
use platforms_fuzz::{DISCORD_EVENTS, fuzz_adapt};

fuzz_target!(|data: &[u8]| fuzz_adapt(data, Platform::Discord, DISCORD_EVENTS));
