//! Signing throughput per algorithm, through the code path the token
//! endpoint uses (`jwt::sign_parts` with a pre-parsed key and a pre-encoded
//! header). Not a test: run `cargo bench -p keyzone-crypto` on a release
//! build and record the numbers in docs/benchmarks.md. It ends with the cost
//! of one password check (argon2id with the parameters sign-in uses), the
//! work a sign-in adds to its request.

use keyzone_crypto::{b64url, jwt, Algorithm, SigningKey};
use std::time::{Duration, Instant};

fn main() {
    let claims = serde_json::json!({
        "iss": "https://abcdefghij0123456789.keyzone.example",
        "sub": "abcdefghij0123456789",
        "aud": ["https://api.example.com"],
        "exp": 1_900_000_000u64, "iat": 1_800_000_000u64,
        "jti": "0123456789abcdefghij0123456789ab",
        "client_id": "abcdefghij0123456789", "scope": "read write",
        "sub_profile": "app", "keycard_app_id": "abcdefghij0123456789",
    });
    let claims = serde_json::to_vec(&claims).unwrap();
    println!("{:<8} {:>12} {:>14}", "alg", "tokens/s", "µs/token");
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let (key, _) = SigningKey::generate(alg, "bench").unwrap();
        let header = b64url(
            serde_json::json!({"alg": alg.as_str(), "kid": "bench", "typ": "at+jwt"})
                .to_string()
                .as_bytes(),
        );
        // Warm up, then count for a fixed wall time on one thread.
        for _ in 0..50 {
            std::hint::black_box(jwt::sign_parts(&key, &header, &claims));
        }
        let budget = Duration::from_secs(3);
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..20 {
                std::hint::black_box(jwt::sign_parts(&key, &header, &claims));
            }
            n += 20;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:<8} {:>12.0} {:>14.1}",
            alg.as_str(),
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
    let phc = keyzone_crypto::password::hash("correct horse battery staple");
    assert!(keyzone_crypto::password::verify(
        "correct horse battery staple",
        &phc
    ));
    let checks = 20;
    let start = Instant::now();
    for _ in 0..checks {
        std::hint::black_box(keyzone_crypto::password::verify(
            "correct horse battery staple",
            &phc,
        ));
    }
    println!(
        "password check (argon2id): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3 / checks as f64
    );
}
