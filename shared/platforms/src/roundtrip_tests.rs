//! Properties of every signing scheme: what is signed verifies, under any of
//! the active secrets, and any single changed byte (body or timestamp) does not.

use proptest::prelude::*;

use crate::test_support::secrets;

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let i = at % out.len();
    out[i] ^= 0x01;
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hmac_schemes_round_trip_and_reject_any_flipped_byte(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        secret in "[ -~]{1,64}",
        other in "[ -~]{1,64}",
        stamp in 0i64..4_000_000_000,
        at in any::<usize>(),
    ) {
        let ts = stamp.to_string();
        let active = secrets(&[&other, &secret]);
        // GitHub and Discourse: sha256=<hex> over the body.
        let sig = crate::github::sign(&secret, &body).unwrap();
        prop_assert!(crate::github::verify_signature(&active, Some(&sig), &body).is_ok());
        prop_assert!(crate::discourse::verify_signature(&active, Some(&sig), &body).is_ok());
        if other != secret {
            prop_assert!(crate::github::verify_signature(&secrets(&[&other]), Some(&sig), &body).is_err());
        }
        prop_assert!(crate::github::verify_signature(&active, Some(&sig), &flip(&body, at)).is_err());
        // Slack: v0:{ts}:{body}.
        let sig = crate::slack::sign(&secret, &ts, &body).unwrap();
        prop_assert!(crate::slack::verify_signature(&active, Some(&sig), Some(&ts), &body).is_ok());
        prop_assert!(crate::slack::verify_signature(&active, Some(&sig), Some(&ts), &flip(&body, at)).is_err());
        let other_ts = (stamp + 1).to_string();
        prop_assert!(crate::slack::verify_signature(&active, Some(&sig), Some(&other_ts), &body).is_err());
        // Relay: {ts}.{body}.
        let sig = crate::relay::sign(&secret, &ts, &body).unwrap();
        prop_assert!(crate::relay::verify_signature(&active, Some(&sig), Some(&ts), &body).is_ok());
        prop_assert!(crate::relay::verify_signature(&active, Some(&sig), Some(&ts), &flip(&body, at)).is_err());
        prop_assert!(crate::relay::verify_signature(&active, Some(&sig), Some(&other_ts), &body).is_err());
    }

    #[test]
    fn ed25519_round_trips_and_rejects_any_flipped_byte(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        seed in any::<[u8; 32]>(),
        stamp in 0i64..4_000_000_000,
        at in any::<usize>(),
    ) {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let keys = vec![key.verifying_key()];
        let ts = stamp.to_string();
        let sig = crate::discord::sign(&key, &ts, &body);
        prop_assert!(crate::discord::verify_signature(&keys, Some(&sig), Some(&ts), &body).is_ok());
        prop_assert!(crate::discord::verify_signature(&keys, Some(&sig), Some(&ts), &flip(&body, at)).is_err());
        let flipped_sig = hex::encode(flip(&hex::decode(&sig).unwrap(), at));
        prop_assert!(crate::discord::verify_signature(&keys, Some(&flipped_sig), Some(&ts), &body).is_err());
    }
}
