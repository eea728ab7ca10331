//! Times the probe's work natively and prints one JSON object (milliseconds, medians of
//! `runs` repetitions): `bench-native [runs]`.
#[path = "../../probe/src/work.rs"]
mod work;

use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let pb = |alg: &'static str, i: u32| {
        time_ms(runs, move || {
            std::hint::black_box(work::pbkdf2(alg, i).unwrap());
        })
    };
    let sha256_600k = pb("sha256", 600_000);
    let sha512_210k = pb("sha512", 210_000);
    let sha256_100k = pb("sha256", 100_000);
    let (token, key) = work::fixture();
    const N: u32 = 2000;
    let jwt_batch = time_ms(runs, || assert_eq!(work::verify_n(&token, &key, N), N));
    println!(
        "{{\"pbkdf2_sha256_600k_ms\":{sha256_600k:.3},\"pbkdf2_sha512_210k_ms\":{sha512_210k:.3},\
         \"pbkdf2_sha256_100k_ms\":{sha256_100k:.3},\"jwt_verify_us\":{:.3},\"runs\":{runs}}}",
        jwt_batch * 1000.0 / N as f64
    );
}
